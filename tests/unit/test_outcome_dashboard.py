"""The dashboard's pages as rendered on the server: figures, hidden groups, inline charts."""

import re
from dataclasses import replace
from datetime import date
from html.parser import HTMLParser

from services.outcomes.dashboard import Bar, bar_chart, index_page, programme_page
from services.outcomes.domain import Partner, Placement
from services.outcomes.overview import ProgrammeOverview, overview
from shared.contracts.municipal import ProgrammeDefined
from shared.contracts.vocabulary import ActivityType, Gender, OutcomeStatus
from tests.unit.test_outcome_indicators import KALMAR, exit_with

S = OutcomeStatus


def _view(programme: ProgrammeDefined = KALMAR, partner_name: str = "Kalejdo") -> ProgrammeOverview:
    journeys = [exit_with(f"w{i}", vid_avslut=S.STUDIES) for i in range(7)]
    journeys += [exit_with(f"x{i}", vid_avslut=S.JOB_SEEKING) for i in range(2)]
    journeys += [
        replace(exit_with(f"m{i}", vid_avslut=S.UNSUBSIDISED_WORK), gender=Gender.MALE)
        for i in range(3)
    ]
    at_kalejdo = (Placement("pl", "p1", ActivityType.PRAKTIK, date(2026, 2, 1), date(2026, 6, 1)),)
    journeys = [
        replace(j, programme_id=programme.programme_id, placements=at_kalejdo) for j in journeys
    ]
    return overview(
        programme,
        journeys,
        rejected=1,
        follow_ups=[],
        partners={"p1": Partner("p1", partner_name)},
        agreements=[],
        as_of=date(2027, 1, 1),
    )


def _page() -> tuple[str, str]:
    view = _view()
    return programme_page(view), index_page([view])


class _Parsed(HTMLParser):
    """A page as a browser reads it: its elements, and its texts and attribute values with the
    entities decoded, so an escaped name reads back as the name and not as markup."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.texts: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def test_the_programme_page_shows_the_verdict_against_the_goal() -> None:
    page, _ = _page()
    # 10 of 12 exits in work or studies: 83 % against the 60 % goal.
    verdict = re.search(r'<p id="verdict"[^>]*>(.*?)</p>', page)
    assert verdict is not None
    assert 'data-goal-met="true"' in verdict.group(0)
    assert "83 %" in verdict.group(1)
    assert "10 / 12" in verdict.group(1)


def test_small_groups_are_hidden_on_the_page() -> None:
    page, _ = _page()
    gender = re.search(
        r'data-breakdown="sysselsattning_vid_avslut@2:gender">(.*?)</table>', page, re.DOTALL
    )
    assert gender is not None
    # Three men; the nine women would reveal them, so both are hidden.
    assert gender.group(1).count("dolt") >= 2
    assert "3 / 3" not in gender.group(1)


def test_charts_are_inline_svg_and_the_page_loads_nothing_from_elsewhere() -> None:
    page, index = _page()
    charts = set(re.findall(r'data-chart="([^"]+)"', page))
    assert charts >= {"funnel", "over-time", "compare-municipality", "compare-partner"}
    for html in (page, index):
        assert "<script" not in html
        assert not re.search(r'(src|href)="https?://', html)
    assert 'href="/dashboard?programme=kalmar"' in index
    partners = re.search(r'data-chart="compare-partner".*?</svg>', page, re.DOTALL)
    assert partners is not None
    assert "Kalejdo" in partners.group(0)
    assert "83 %" in partners.group(0)


def test_a_bar_without_a_value_shows_its_text_and_no_bar() -> None:
    chart = bar_chart("t", [Bar("a", 0.5, "50 %"), Bar("b", None, "dolt")], scale=1.0)
    assert chart.count("<rect") == 1
    assert "dolt" in chart


def test_names_from_outside_are_escaped_on_the_programme_page_and_the_index() -> None:
    # A municipal system names programmes and partners; an Identifier may hold " < > too.
    name = '<script>alert(1)</script> "Kalmar"'
    partner = '<script>alert(1)</script> "Kalejdo"'
    programme = KALMAR.model_copy(update={"name": name, "programme_id": 'k"<x>'})
    view = _view(programme, partner_name=partner)
    page, index = programme_page(view), index_page([view])
    for html in (page, index):
        assert "<script" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert '"Kalmar"' not in html
        assert "&amp;lt;" not in html  # escaped once, not twice
        parsed = _Parsed(html)
        assert "script" not in parsed.tags
        assert name in parsed.texts
    parsed = _Parsed(page)
    assert partner in parsed.texts  # the partner comparison's label and its breakdown row
    partners = re.search(r'data-chart="compare-partner".*?</svg>', page, re.DOTALL)
    assert partners is not None
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &#34;Kalejdo&#34;" in partners.group(0)
    parsed = _Parsed(index)
    assert ("data-programme", 'k"<x>') in parsed.attributes
    assert ("href", "/dashboard?programme=k%22%3Cx%3E") in parsed.attributes
