"""业主(住户)意见征询表 (接待 一.5): campaigns per estate and period, responses, the report.

Each response scores the campaign's service areas 1–5 and may add comments; the report gives the
average per area and estate with the weakest areas first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    PermissionDenied,
    UTCDateTime,
    ValidationError,
    as_utc,
    code_column,
    fmt_dt,
    parse_choice,
    parse_int,
    require_text,
    utcnow,
)
from models.master import Estate, Owner
from models.reception_common import (
    amend_body,
    check_place,
    create,
    not_in_future,
    opt_dt,
    opt_int,
    opt_text,
    read_body,
    sync_foreign_keys,
)
from models.workflow import Actor, TransitionRefused, Workflow, register_workflow

DEFAULT_AREAS = ("客服接待", "维修", "保安", "保洁", "绿化", "收费")
PERIOD_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]|Q[1-4]|H[12]))?$")
AREA_SPLIT = re.compile(r"[\n\r,,、;;]+")
LOW_SCORE = 2
TWO = Decimal("0.01")


def average(total, count) -> Decimal | None:
    if not count:
        return None
    return (Decimal(total) / Decimal(count)).quantize(TWO, rounding=ROUND_HALF_UP)


def check_period(field: str, value) -> str:
    if not isinstance(value, str) or not PERIOD_RE.match(value.strip()):
        raise ValidationError(field, _l("期间格式不正确,应为 2026、2026-11、2026-Q4 或 2026-H2"))
    return value.strip()


def period_matches(column, period: str):
    """A campaign period matches `2026` (any period of the year) or itself exactly."""
    return or_(column == period, column.like(period.replace("%", "").replace("_", "") + "-%"))


class SurveyStatus(LabeledEnum):
    open = "open"
    closed = "closed"

    @classmethod
    def labels(cls):
        return {"open": _l("征询中"), "closed": _l("已结束")}


class SurveyCampaign(EstateOwned, AuditMixinNullable, Model):
    """One round of the 意见征询表 for an estate and a period, with its service areas."""

    __tablename__ = "survey"
    __table_args__ = (UniqueConstraint("estate_id", "period", name="uq_survey_estate_period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    areas: Mapped[str] = mapped_column(Text, nullable=False, default="\n".join(DEFAULT_AREAS))
    issued_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = code_column(SurveyStatus, nullable=False, default="open", index=True)
    note: Mapped[str | None] = mapped_column(Text)
    responses = relationship("SurveyResponse", back_populates="survey", order_by="SurveyResponse.id")

    API_FIELDS = {
        "estate_id": opt_int,
        "period": lambda f, v: check_period(f, v),
        "title": opt_text(100),
        "areas": lambda f, v: v,
        "issued_on": lambda f, v: _parse_date(f, v),
        "note": opt_text(2000),
    }
    API_REQUIRED = ("estate_id", "period")
    API_EDITABLE = ("title", "areas", "issued_on", "note")

    def __repr__(self) -> str:
        return f"{self.estate.name if self.estate else ''} {self.title}".strip()

    @property
    def status_label(self) -> str:
        return SurveyStatus.label_of(self.status)

    @property
    def area_list(self) -> list[str]:
        return split_areas(self.areas)

    @property
    def response_count(self) -> int:
        return len(self.responses)

    def derive_estate(self, session) -> None:
        sync_foreign_keys(self)

    def validate(self, session) -> None:
        if self.estate_id is None:
            raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
        if session.get(Estate, self.estate_id) is None:
            raise ValidationError("estate_id", _l("小区/大厦不存在"))
        self.period = check_period("period", self.period)
        self.title = (self.title or "").strip() or str(_l("业主(住户)意见征询表 %(p)s", p=self.period))
        if len(self.title) > 100:
            raise ValidationError("title", _l("不能超过 %(n)s 个字", n=100))
        areas = self.areas if self.areas not in (None, "") else list(DEFAULT_AREAS)
        if isinstance(areas, str):
            areas = split_areas(areas)
        if not isinstance(areas, list) or not all(isinstance(a, str) for a in areas):
            raise ValidationError("areas", _l("服务项目必须是文字列表"))
        areas = list(dict.fromkeys(a.strip() for a in areas if a and a.strip()))
        if not areas:
            raise ValidationError("areas", _l("请至少设置一个服务项目"))
        if len(areas) > 30 or any(len(a) > 20 for a in areas):
            raise ValidationError("areas", _l("服务项目最多 30 个,每个不超过 20 个字"))
        if self.id is not None:
            scored = set(session.scalars(
                select(SurveyScore.area).join(SurveyResponse).where(SurveyResponse.survey_id == self.id).distinct()
            ))
            removed = sorted(scored - set(areas))
            if removed:
                raise ValidationError("areas", _l("已有答卷对「%(a)s」评分,不能删除该服务项目", a="、".join(removed)))
        self.areas = "\n".join(areas)
        dup = session.scalar(
            select(SurveyCampaign.id).where(
                SurveyCampaign.estate_id == self.estate_id,
                SurveyCampaign.period == self.period,
                SurveyCampaign.id != (self.id or 0),
            )
        )
        if dup:
            raise ValidationError("period", _l("该小区/大厦本期已有意见征询"))
        if self.id is None:
            self.status = SurveyStatus.open.value

    @classmethod
    def register(cls, session, actor: Actor, now: datetime, body: dict) -> SurveyCampaign:
        survey = cls()
        read_body(survey, body, cls.API_FIELDS, cls.API_REQUIRED)
        create(session, survey, actor, now)
        return survey

    def amend(self, session, body: dict) -> None:
        amend_body(self, body)

    def check_delete(self, session) -> None:
        n = session.scalar(select(func.count(SurveyResponse.id)).where(SurveyResponse.survey_id == self.id))
        if n:
            raise ValidationError("survey", _l("已收回 %(n)s 份答卷,不能删除", n=n))

    def report(self, session) -> SurveyReport:
        return survey_report(session, survey_ids=[self.id])


def _parse_date(field: str, value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(field, _l("日期格式不正确,应为 2026-11-29")) from None


def split_areas(text: str | None) -> list[str]:
    return [a.strip() for a in AREA_SPLIT.split(text or "") if a.strip()]


survey_flow = register_workflow(Workflow(object_type="survey", permission_view="Survey", status_labels=SurveyStatus.label_of))


@survey_flow.add("close", ["open"], "closed", _l("结束征询"))
def _close(survey, actor, now, session):
    return str(_l("共收回 %(n)s 份", n=survey.response_count))


@survey_flow.add("reopen", ["closed"], "open", _l("重新开放"))
def _reopen(survey, actor, now, session):
    return None


class ResponseStatus(LabeledEnum):
    recorded = "recorded"
    complaint = "complaint"

    @classmethod
    def labels(cls):
        return {"recorded": _l("已录入"), "complaint": _l("已转投诉")}


class SurveyResponse(EstateOwned, AuditMixinNullable, Model):
    """One returned 意见征询表: a score 1–5 per service area and comments.

    What an owner writes may be a complaint (SPEC §6 channel 意见征询表): `register_complaint` turns the
    response into one complaint, linked both ways (`complaint_id` here, source `survey_response` there)."""

    __tablename__ = "survey_response"
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id"), nullable=False, index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    respondent: Mapped[str | None] = mapped_column(String(40))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    comments: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = code_column(ResponseStatus, nullable=False, default="recorded", index=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), unique=True)
    survey = relationship("SurveyCampaign", back_populates="responses")
    complaint = relationship("Complaint", foreign_keys=[complaint_id])
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")
    unit = relationship("Unit", foreign_keys=[unit_id], lazy="joined")
    scores = relationship("SurveyScore", back_populates="response", order_by="SurveyScore.id", cascade="all, delete-orphan")

    API_FIELDS = {
        "survey_id": lambda f, v: parse_int(f, v, required=True),
        "owner_id": opt_int,
        "unit_id": opt_int,
        "respondent": opt_text(40),
        "submitted_at": opt_dt,
        "comments": opt_text(4000),
        "scores": lambda f, v: v,
    }
    API_REQUIRED = ("survey_id", "scores")

    def __repr__(self) -> str:
        who = self.respondent or (self.owner.name if self.owner else "") or (str(self.unit) if self.unit else "")
        return f"{who} {fmt_dt(self.submitted_at)}".strip()

    @property
    def score_map(self) -> dict[str, int]:
        return {s.area: s.score for s in self.scores}

    @property
    def average(self) -> Decimal | None:
        return average(sum(s.score for s in self.scores), len(self.scores))

    @property
    def scores_text(self) -> str:
        return "、".join(f"{s.area} {s.score}" for s in self.scores)

    @property
    def status_label(self) -> str:
        return ResponseStatus.label_of(self.status)

    @property
    def suggested_category(self) -> str:
        """The complaint category of the lowest-scored service area (服务质量 when none maps)."""
        for score in sorted(self.scores, key=lambda s: (s.score, s.id or 0)):
            if score.area in AREA_CATEGORIES:
                return AREA_CATEGORIES[score.area]
        return "service"

    def check_delete(self, session) -> None:
        if self.complaint_id is not None:
            raise ValidationError("complaint_id", _l("该答卷已转为投诉,不能删除"))

    def derive_estate(self, session) -> None:
        sync_foreign_keys(self)
        survey = session.get(SurveyCampaign, self.survey_id) if self.survey_id else None
        if survey is not None:
            self.estate_id = survey.estate_id

    def validate(self, session) -> None:
        survey = session.get(SurveyCampaign, self.survey_id) if self.survey_id else None
        if survey is None:
            raise ValidationError("survey_id", _l("意见征询不存在"))
        check_place(session, self)
        if self.owner_id is not None and not self.respondent:
            self.respondent = session.get(Owner, self.owner_id).name
        self.submitted_at = as_utc(self.submitted_at) if self.submitted_at else utcnow()
        not_in_future("submitted_at", self.submitted_at, utcnow())
        if self.comments and len(self.comments) > 4000:
            raise ValidationError("comments", _l("不能超过 %(n)s 个字", n=4000))
        if self.owner_id is not None:
            dup = session.scalar(
                select(SurveyResponse.id).where(
                    SurveyResponse.survey_id == survey.id,
                    SurveyResponse.owner_id == self.owner_id,
                    SurveyResponse.id != (self.id or 0),
                )
            )
            if dup:
                raise ValidationError("owner_id", _l("该业户已交回本期意见征询表"))

    @classmethod
    def register(cls, session, actor: Actor, now: datetime, body: dict) -> SurveyResponse:
        """A returned form; every score is checked before anything is written."""
        response = cls()
        fields = {k: v for k, v in cls.API_FIELDS.items() if k != "scores"}
        if not isinstance(body, dict):
            raise ValidationError("body", _l("请求体必须是 JSON 对象"))
        body = dict(body)
        if "scores" not in body:
            raise ValidationError("scores", _l("请至少为一个服务项目评分"))
        raw_scores = body.pop("scores")
        read_body(response, body, fields, ("survey_id",))
        survey = session.get(SurveyCampaign, response.survey_id)
        if survey is None:
            raise ValidationError("survey_id", _l("意见征询不存在"))
        if survey.status != SurveyStatus.open:
            raise TransitionRefused(_l("本期意见征询已结束,不能再录入答卷"))
        scores = parse_scores(raw_scores, survey.area_list)
        response.estate_id = survey.estate_id
        response.scores = [SurveyScore(area=a, score=s) for a, s in scores.items()]
        create(session, response, actor, now)
        return response


# the complaint category a service area's problems belong to (the default when a response becomes a complaint)
AREA_CATEGORIES = {"客服接待": "service", "维修": "repair", "保安": "security", "保洁": "cleaning", "绿化": "greening", "收费": "fee"}

survey_response_flow = register_workflow(
    Workflow(object_type="survey_response", permission_view="SurveyResponse", status_labels=ResponseStatus.label_of)
)


@survey_response_flow.add("register_complaint", [ResponseStatus.recorded.value], ResponseStatus.complaint.value, _l("转投诉"))
def _register_complaint(response: SurveyResponse, actor: Actor, now: datetime, session, category=None, content=None,
                        department_id=None):
    """转投诉: a complaint (channel 意见征询表) with the response's estate, unit, owner and comments, received now."""
    from models.complaint import ComplaintCategory, register_complaint_from_source

    if response.complaint_id is not None:
        raise TransitionRefused(_l("该答卷已转为投诉 %(n)s,不能重复登记", n=str(response.complaint)))
    if not actor.can("can_write", "Complaint"):
        raise PermissionDenied(_l("您没有登记投诉的权限"))
    if content in (None, ""):
        content = (response.comments or "").strip()[:2000] or None
    content = require_text("content", content, 2000, _l("答卷没有填写意见和建议,请填写投诉内容"))
    category = parse_choice("category", category if category not in (None, "") else response.suggested_category, ComplaintCategory)
    complaint = register_complaint_from_source(
        session, actor, now, response, "survey_response", category=category, content=content, channel="survey",
        received_at=now, complainant=response.respondent, department_id=department_id,
    )
    response.complaint = complaint
    return str(_l("转投诉 %(n)s", n=str(complaint)))


def register_complaint_from_response(session, response: SurveyResponse, actor: Actor, now: datetime | None = None, **params):
    """Turn a response into a complaint through its `register_complaint` move; returns the complaint."""
    survey_response_flow.apply(session, response, "register_complaint", actor, now, params)
    return response.complaint


def parse_scores(raw, areas: list[str]) -> dict[str, int]:
    """{area: score}; accepts a mapping or a list of {area, score}; scores are integers 1–5."""
    if isinstance(raw, list):
        pairs = {}
        for item in raw:
            if not isinstance(item, dict) or "area" not in item or "score" not in item:
                raise ValidationError("scores", _l("评分格式不正确,应为 {服务项目: 分数}"))
            pairs[item["area"]] = item["score"]
        raw = pairs
    if not isinstance(raw, dict) or not raw:
        raise ValidationError("scores", _l("请至少为一个服务项目评分"))
    scores: dict[str, int] = {}
    for area, value in raw.items():
        if area not in areas:
            raise ValidationError("scores", _l("本期征询没有服务项目「%(a)s」,可选:%(all)s", a=str(area)[:20], all="、".join(areas)))
        if value in (None, ""):
            continue  # the owner left the area blank (不了解)
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
            raise ValidationError("scores", _l("「%(a)s」的评分必须是 1–5 的整数", a=area))
        number = int(value)
        if not 1 <= number <= 5:
            raise ValidationError("scores", _l("「%(a)s」的评分必须是 1–5 的整数", a=area))
        scores[area] = number
    if not scores:
        raise ValidationError("scores", _l("请至少为一个服务项目评分"))
    return scores


class SurveyScore(Model):
    __tablename__ = "survey_score"
    __table_args__ = (
        UniqueConstraint("response_id", "area", name="uq_survey_score_area"),
        CheckConstraint("score BETWEEN 1 AND 5", name="ck_survey_score_range"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_response.id", ondelete="CASCADE"), nullable=False, index=True)
    area: Mapped[str] = mapped_column(String(20), nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    response = relationship("SurveyResponse", back_populates="scores")

    def __repr__(self) -> str:
        return f"{self.area} {self.score}"


# ---------------------------------------------------------------- the report
@dataclass
class AreaAverage:
    estate_id: int
    estate: str
    area: str
    scores: int
    average: Decimal
    low: int  # scores of 1 or 2


@dataclass
class EstateAverage:
    estate_id: int
    estate: str
    responses: int
    average: Decimal | None
    weakest: str


@dataclass
class SurveyReport:
    areas: list[AreaAverage]  # weakest first
    estates: list[EstateAverage]
    comments: list[tuple[str, str, str]]  # estate, respondent, comment

    def as_json(self) -> dict:
        return {
            "areas": [
                {"estate_id": a.estate_id, "estate": a.estate, "area": a.area, "scores": a.scores, "average": str(a.average), "low": a.low}
                for a in self.areas
            ],
            "estates": [
                {"estate_id": e.estate_id, "estate": e.estate, "responses": e.responses, "average": str(e.average) if e.average is not None else None, "weakest": e.weakest}
                for e in self.estates
            ],
            "comments": [{"estate": e, "respondent": r, "comment": c} for e, r, c in self.comments],
        }


def survey_report(
    session, *, survey_ids: list[int] | None = None, period: str | None = None, estate_ids=None, scope=None
) -> SurveyReport:
    """Averages per service area and estate, weakest first; `scope` restricts to a user's estates."""
    from app.scope import scope_condition

    conds = []
    if survey_ids is not None:
        conds.append(SurveyCampaign.id.in_(survey_ids))
    if period:
        conds.append(period_matches(SurveyCampaign.period, period))
    if estate_ids is not None:
        conds.append(SurveyCampaign.estate_id.in_(estate_ids))
    scoped = scope_condition(SurveyCampaign, scope) if scope != "all" else None
    if scoped is not None:
        conds.append(scoped)
    low = func.sum(case((SurveyScore.score <= LOW_SCORE, 1), else_=0))
    rows = session.execute(
        select(SurveyCampaign.estate_id, Estate.name, SurveyScore.area, func.count(SurveyScore.id), func.sum(SurveyScore.score), low)
        .join(SurveyResponse, SurveyResponse.id == SurveyScore.response_id)
        .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.survey_id)
        .join(Estate, Estate.id == SurveyCampaign.estate_id)
        .where(*conds)
        .group_by(SurveyCampaign.estate_id, Estate.name, SurveyScore.area)
    ).all()
    areas = [AreaAverage(eid, name, area, n, average(total, n), int(lows or 0)) for eid, name, area, n, total, lows in rows]
    areas.sort(key=lambda a: (a.average, -a.low, a.estate, a.area))
    per_estate = session.execute(
        select(SurveyCampaign.estate_id, Estate.name, func.count(func.distinct(SurveyResponse.id)), func.sum(SurveyScore.score), func.count(SurveyScore.id))
        .join(SurveyResponse, SurveyResponse.survey_id == SurveyCampaign.id)
        .join(SurveyScore, SurveyScore.response_id == SurveyResponse.id)
        .join(Estate, Estate.id == SurveyCampaign.estate_id)
        .where(*conds)
        .group_by(SurveyCampaign.estate_id, Estate.name)
    ).all()
    estates = []
    for eid, name, responses, total, n in per_estate:
        weakest = next((a.area for a in areas if a.estate_id == eid), "")
        estates.append(EstateAverage(eid, name, responses, average(total, n), weakest))
    estates.sort(key=lambda e: (e.average is None, e.average or 0, e.estate))
    comment_rows = session.execute(
        select(Estate.name, SurveyResponse.respondent, SurveyResponse.comments)
        .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.survey_id)
        .join(Estate, Estate.id == SurveyCampaign.estate_id)
        .where(*conds, SurveyResponse.comments.is_not(None), SurveyResponse.comments != "")
        .order_by(SurveyResponse.id)
        .limit(500)
    ).all()
    return SurveyReport(areas, estates, [(e, r or "", c) for e, r, c in comment_rows])


def write_report_xlsx(report: SurveyReport, path_or_file, title: str) -> int:
    """The report as a workbook: areas (weakest first), estates, comments."""
    from app.xlsx import Col, new_workbook, write_sheet

    workbook = new_workbook(path_or_file)
    n = write_sheet(
        workbook,
        title,
        [
            Col("小区/大厦", "estate", width=18),
            Col("服务项目", "area", width=12),
            Col("评分份数", "scores", "int"),
            Col("平均分", lambda a: a.average, "money"),
            Col("低分(1–2 分)份数", "low", "int"),
        ],
        report.areas,
        subtitle=str(_l("按平均分从低到高排列(最薄弱的服务项目在前)")),
    )
    write_sheet(
        workbook,
        str(_l("各小区平均分")),
        [Col("小区/大厦", "estate", width=18), Col("答卷数", "responses", "int"), Col("总平均分", lambda e: e.average, "money"), Col("最薄弱项目", "weakest", width=12)],
        report.estates,
    )
    write_sheet(workbook, str(_l("业户意见")), [Col("小区/大厦", lambda c: c[0], width=18), Col("填表人", lambda c: c[1], width=12), Col("意见和建议", lambda c: c[2], width=80)], report.comments)
    workbook.close()
    return n

