from datetime import UTC, datetime

import pytest

from relais.agenda import ical

SAMPLE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//FR\r\n"
    "BEGIN:VEVENT\r\nUID:one@test\r\nSUMMARY:SNP\\, soir\r\n"
    "DTSTART;TZID=Europe/Paris:20260329T173000\r\nDTEND;TZID=Europe/Paris:20260329T180000\r\n"
    "BEGIN:VALARM\r\nTRIGGER:-PT15M\r\nDTSTART:19700101T000000\r\nEND:VALARM\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:two@te\r\n st\r\nDTSTART:20261201T090000Z\r\nDURATION:PT45M\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\nDTSTART:20261202T100000\r\nDTEND:20261202T103000\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def test_it_reads_zoned_utc_floating_times_durations_and_folded_lines():
    one, two, three = ical.parse_events(SAMPLE)
    # Summer time has started on that Sunday: 17:30 in Paris is 15:30 UTC.
    assert one.start == datetime(2026, 3, 29, 15, 30, tzinfo=UTC)
    assert one.uid == "one@test" and one.summary == "SNP, soir"
    assert two.uid == "two@test"
    assert (two.start, two.end) == (
        datetime(2026, 12, 1, 9, tzinfo=UTC),
        datetime(2026, 12, 1, 9, 45, tzinfo=UTC),
    )
    # Floating time: read as Paris time (winter, UTC+1).
    assert three.start == datetime(2026, 12, 2, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "pas un calendrier"),
        ("BEGIN:VCALENDAR\nEND:VCALENDAR\n", "Aucun événement"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261201\nEND:VEVENT\n", "journée"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:2026\nEND:VEVENT\n", "illisible"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261201T090000Z\nEND:VEVENT\n", "pas de fin"),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261201T090000Z\nRRULE:FREQ=WEEKLY\n",
            "récurrent",
        ),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261201T090000Z\n", "tronqué"),
    ],
)
def test_it_refuses_unreadable_files_in_french(text, message):
    with pytest.raises(ical.IcsError, match=message):
        ical.parse_events(text)


def test_it_writes_a_calendar_it_can_read_back():
    event = ical.FeedEvent(
        uid="x@relais",
        start=datetime(2026, 12, 1, 16, tzinfo=UTC),
        end=datetime(2026, 12, 1, 16, 20, tzinfo=UTC),
        summary="SNP : créneau libre",
        location="Cabinet, 1 place de la Mairie, Évry-Courcouronnes; " + "très long " * 10,
    )
    text = ical.calendar([event], name="SNP", now=datetime(2026, 11, 30, tzinfo=UTC))
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    (back,) = ical.parse_events(text)
    assert (back.start, back.end, back.uid) == (event.start, event.end, "x@relais")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTEND:20261201T090000Z\nEND:VEVENT\n", "pas de date"),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261201T090000Z\nDURATION:P\nEND:VEVENT\n",
            "durée illisible",
        ),
        (
            "BEGIN:VCALENDAR\n"
            + "BEGIN:VEVENT\nDTSTART:20261201T090000Z\nDURATION:PT20M\nEND:VEVENT\n" * 501
            + "END:VCALENDAR\n",
            "Plus de 500",
        ),
    ],
)
def test_it_refuses_more_unreadable_files_in_french(text, message):
    with pytest.raises(ical.IcsError, match=message):
        ical.parse_events(text)


def test_it_reads_a_windows_zone_name_and_a_byte_order_mark():
    text = (
        "\ufeffBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:w\r\n"
        "DTSTART;TZID=Romance Standard Time:20261201T090000\r\nDURATION:PT20M\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (event,) = ical.parse_events(text)
    assert event.start == datetime(2026, 12, 1, 8, tzinfo=UTC)  # Paris winter time


def test_it_writes_through_the_icalendar_library():
    import icalendar

    event = ical.FeedEvent(
        uid="y@relais",
        start=datetime(2026, 12, 1, 16, tzinfo=UTC),
        end=datetime(2026, 12, 1, 16, 20, tzinfo=UTC),
        summary="SNP : plage, 1/3 patient(s)",
        location="Cabinet; 1, place de la Mairie",
    )
    text = ical.calendar([event], name="SNP Dr Test", now=datetime(2026, 11, 30, tzinfo=UTC))
    assert "LOCATION:Cabinet\\; 1\\, place de la Mairie" in text
    parsed = icalendar.Calendar.from_ical(text)
    (back,) = parsed.walk("VEVENT")
    assert str(back["LOCATION"]) == "Cabinet; 1, place de la Mairie"
    assert str(parsed["X-WR-CALNAME"]) == "SNP Dr Test"
