"""The exit alert's chart: a valid PNG a phone can show, sent as Pushover's documented
multipart attachment; and the wording of where the price is."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.alerts.chart import HEIGHT_PX, WIDTH_PX, ChartHour, exit_chart
from market_maker.alerts.message import exit_notification, plain_reason, where_in_grid
from market_maker.alerts.notifier import Notifier
from market_maker.alerts.pushover import MAX_ATTACHMENT, PushoverClient
from market_maker.config.models import NotificationSettings, PushoverSettings
from market_maker.decisions.states import RECOMMENDATION, ExitState
from market_maker.exchange import ReplayExchange
from tests.alerts.pushover_server import FakePushover

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOUR = datetime(2023, 8, 17, 21, tzinfo=UTC)  # the evening of the 17 August 2023 break
TARGET_BYTES = 200_000
VERDICTS = ["RANGE_OK", "RANGE_WEAK", "TRANSITION", "TREND", None]


@pytest.fixture(scope="module")
def hours() -> list[ChartHour]:
    """72 hourly closes of the recorded sample up to the break, with a band of each regime."""
    from market_maker.base.candles import Interval
    from tests.conftest import SAMPLE_FILE

    exchange = ReplayExchange(SAMPLE_FILE, "ETH-USDT")
    exchange.set_now(HOUR + timedelta(hours=2))
    series = exchange.candles(
        "ETH-USDT", Interval.HOUR, HOUR - timedelta(hours=71), HOUR + timedelta(hours=1)
    ).candles
    assert len(series.t) == 72
    return [
        ChartHour(datetime.fromtimestamp(int(t), UTC), float(c), VERDICTS[i // 15])
        for i, (t, c) in enumerate(zip(series.t, series.close, strict=True))
    ]


def render(hours: list[ChartHour], **kw) -> bytes:
    args = {
        "lower": 1780.0,
        "upper": 1900.0,
        "state": "MANDATORY_EXIT",
        "changed_at": hours[-min(20, len(hours))].hour,
        "title": "ETH-USDT eth-grid-1: MANDATORY EXIT",
        **kw,
    }
    return exit_chart(hours, **args)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_chart_is_a_png_of_phone_size_well_under_pushovers_limit(
    hours: list[ChartHour],
) -> None:
    from matplotlib import image

    png = render(hours)

    assert png_size(png) == (WIDTH_PX, HEIGHT_PX)
    assert len(png) < TARGET_BYTES < MAX_ATTACHMENT
    pixels = image.imread(io.BytesIO(png), format="png")  # decodes
    assert pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    assert pixels.std() > 0.05  # not a blank canvas


def test_the_chart_is_the_same_for_the_same_hours(hours: list[ChartHour]) -> None:
    assert render(hours) == render(hours)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 80),
    base=st.floats(100, 5000),
    moves=st.lists(st.floats(-0.05, 0.05), min_size=80, max_size=80),
    verdicts=st.lists(st.sampled_from(VERDICTS), min_size=80, max_size=80),
)
def test_any_stretch_of_prices_and_regimes_renders(
    n: int, base: float, moves: list[float], verdicts: list[str | None]
) -> None:
    price, hours = base, []
    for i in range(n):
        price *= 1 + moves[i]
        hours.append(ChartHour(HOUR - timedelta(hours=n - 1 - i), price, verdicts[i]))
    png = render(hours, lower=base * 0.95, upper=base * 1.05, changed_at=hours[0].hour)
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX) and len(png) < TARGET_BYTES


def notification(png: bytes | None):
    n = exit_notification(
        symbol="ETH-USDT",
        grid_id="eth-grid-1",
        hour=HOUR,
        state=ExitState.MANDATORY_EXIT,
        previous=ExitState.MANDATORY_EXIT,
        recommendation=RECOMMENDATION[ExitState.MANDATORY_EXIT],
        price=1648.93,
        lower=1780.0,
        upper=1900.0,
        verdict="TREND",
        confidence=0.8,
        reasons=["warning_persisted: 3 in a row under TREND, price at -109% of the grid"],
        decision_id="dec-ETH-USDT-20230817-220000",
        expires_at=HOUR + timedelta(hours=1, minutes=15),
        url=None,
    )
    return n.model_copy(update={"attachment": png})


def test_pushover_receives_the_chart_as_the_documented_multipart_attachment(
    hours: list[ChartHour], pushover_settings: PushoverSettings, pushover: FakePushover
) -> None:
    png = render(hours)
    PushoverClient(pushover_settings).send(notification(png))

    [request] = pushover.requests
    assert request.content_type.startswith("multipart/form-data")
    [form] = pushover.accepted
    assert form["priority"] == "2" and "1,648.93" in form["message"]
    attachment = pushover.attachment_of(form)
    assert attachment is not None
    assert attachment.content_type == "image/png" and attachment.data == png


def test_the_webhook_and_the_log_carry_no_image(
    hours: list[ChartHour],
    notification_settings: NotificationSettings,
    pushover: FakePushover,
) -> None:
    from pydantic import SecretStr

    settings = notification_settings.model_copy(
        update={"webhook_url": SecretStr(pushover.webhook_url)}
    )
    n = notification(render(hours))
    deliveries = Notifier(settings).send(n)
    assert all(d.ok for d in deliveries)
    assert "attachment" not in pushover.webhook[0]
    assert "chart" in deliveries[0].detail
    [logged] = Notifier(NotificationSettings()).send(n)
    assert logged.channel == "log" and "chart" not in logged.detail


def test_an_image_over_the_limit_is_left_off_and_the_message_still_goes(
    pushover_settings: PushoverSettings, pushover: FakePushover
) -> None:
    PushoverClient(pushover_settings).send(notification(PNG_MAGIC + b"0" * MAX_ATTACHMENT))
    [form] = pushover.accepted
    assert pushover.attachment_of(form) is None


def test_the_stand_in_refuses_an_oversized_attachment_as_pushover_does(
    pushover: FakePushover,
) -> None:
    import requests

    from tests.alerts.pushover_server import TOKEN, USER_KEY

    reply = requests.post(
        pushover.messages_url,
        data={"token": TOKEN, "user": USER_KEY, "message": "x"},
        files={"attachment": ("a.png", b"0" * (MAX_ATTACHMENT + 1), "image/png")},
        timeout=5,
    )
    assert reply.status_code == 400 and "attachment is too large" in reply.text


# -- wording -----------------------------------------------------------------------------


def test_a_price_below_the_grid_says_how_far_below_which_bound() -> None:
    assert where_in_grid(1648.93, 1780.0, 1900.0) == "7.4 % below the grid's lower bound 1,780.00"
    assert where_in_grid(1950.0, 1780.0, 1900.0) == "2.6 % above the grid's upper bound 1,900.00"
    assert where_in_grid(1796.01, 1780.0, 1900.0) == (
        "inside the grid, low: 13 % of the way up from the lower bound 1,780.00"
    )


def test_the_alert_never_speaks_of_a_share_of_the_grid_outside_it() -> None:
    n = notification(None)
    assert "7.4 % below the grid's lower bound 1,780.00" in n.message
    assert "% of the grid" not in n.message and "in grid" not in n.message
    assert plain_reason(
        "price_outer_band: price 1796.01 at 13% of the grid [1780, 1900]", 1796.01, 1780, 1900
    ) == ("price_outer_band: price low in the grid, 13 % of the way up")
    assert plain_reason("under TREND, price at -109% of the grid", 1648.93, 1780, 1900) == (
        "under TREND, price 7.4 % below the grid's lower bound 1,780.00"
    )


@given(
    lower=st.floats(10, 10_000),
    width=st.floats(0.01, 0.5),
    at=st.floats(-0.9, 2.0),
)
def test_the_words_match_the_side_of_the_grid(lower: float, width: float, at: float) -> None:
    upper = lower * (1 + width)
    price = lower + at * (upper - lower)
    if price <= 0:
        return
    words = where_in_grid(price, lower, upper)
    if price < lower:
        assert "below the grid's lower bound" in words
    elif price > upper:
        assert "above the grid's upper bound" in words
    else:
        assert words.startswith("inside the grid")
    assert "-" not in words.split("bound")[0]  # no negative shares
