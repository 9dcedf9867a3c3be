"""`ScopedModelRestApi`: a FAB ModelRestApi over the estate-scoped interface. Domain errors answer
4xx (never 500), validation messages are in Chinese, every answer about a record carries its
version, workflows are driven over `POST /<id>/<transition>`, and resources that create and correct
through the model's own parsing answer through `write_response`."""

from __future__ import annotations

import logging

from flask import request
from flask_appbuilder import ModelRestApi
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError as MarshmallowError
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

from app.scope import CONFLICT
from models.base import DomainError, check_version
from models.workflow import WORKFLOWS
from views.base import PERMISSION_MAP, commit_or_conflict, current_actor, versioned

logger = logging.getLogger(__name__)


class BadRequest(Exception):
    """A request body the resource cannot read (answered 400 with its message)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = str(message)


class _CachedSchemaValidation:
    """FAB checks every `?q=` against its JSON schema with `jsonschema.validate`, which first validates
    the schema itself against the meta-schema: most of a small list request's time. Same answers,
    with one validator per schema (FAB's schemas are constants)."""

    def __init__(self, module):
        self._module = module
        self._validators: dict[int, tuple] = {}

    def __getattr__(self, name):
        return getattr(self._module, name)

    def validate(self, instance, schema, *args, **kwargs):
        if args or kwargs:
            return self._module.validate(instance, schema, *args, **kwargs)
        cached = self._validators.get(id(schema))
        if cached is None or cached[0] is not schema:
            cls = self._module.validators.validator_for(schema)
            cls.check_schema(schema)
            cached = self._validators[id(schema)] = (schema, cls(schema))
        error = self._module.exceptions.best_match(cached[1].iter_errors(instance))
        if error is not None:
            raise error


def _cache_rison_validation() -> None:
    import flask_appbuilder.api as fab_api

    if not isinstance(fab_api.jsonschema, _CachedSchemaValidation):
        fab_api.jsonschema = _CachedSchemaValidation(fab_api.jsonschema)


MARSHMALLOW_ZH = {
    "Not a valid number.": _l("必须是数字"),
    "Not a valid integer.": _l("必须是整数"),
    "Not a valid boolean.": _l("只能是 true 或 false"),
    "Not a valid string.": _l("必须是文字"),
    "Not a valid datetime.": _l("时间格式不正确,应为 ISO 8601,如 2026-11-29T14:30:00+08:00"),
    "Not a valid date.": _l("日期格式不正确,应为 YYYY-MM-DD"),
    "Not a valid time.": _l("时间格式不正确,应为 HH:MM"),
    "Missing data for required field.": _l("必填"),
    "Field may not be null.": _l("不能为空"),
    "Unknown field.": _l("未知字段"),
    "Invalid input type.": _l("数据类型不正确"),
    "Special numeric values (nan or infinity) are not permitted.": _l("必须是有限的数字"),
    "Related Object doesn't exist in DB": _l("引用的记录不存在"),
    "Request is not JSON": _l("请求体必须是 JSON 对象"),
}


def chinese_messages(message):
    """Marshmallow's English validation messages in Chinese, field names kept."""
    if isinstance(message, dict):
        return {k: chinese_messages(v) for k, v in message.items()}
    if isinstance(message, list):
        return [chinese_messages(m) for m in message]
    if isinstance(message, str):
        text = MARSHMALLOW_ZH.get(message)
        if text is None and message.startswith("Length must be"):
            text = _l("长度超出限制")
        return str(text) if text is not None else message
    return message


class ScopedModelRestApi(ModelRestApi):
    """A FAB ModelRestApi over the estate-scoped interface; domain errors answer 4xx, never 500."""

    method_permission_name = PERMISSION_MAP
    allow_browser_login = False
    workflow_type: str | None = None

    def __init__(self, *args, **kwargs):
        from views.rest_list import verify_token_once

        _cache_rison_validation()
        verify_token_once()
        super().__init__(*args, **kwargs)

    # As on ScopedModelView: loader options and count strategy of `GET /` (the list).
    list_options: tuple = ()
    list_count_limit: int | None = None

    # `GET /` answered by views/rest_list.py (same JSON, without FAB's per-request machinery) when
    # the request needs nothing else; False: always FAB's path (the tests compare both).
    lean_list = True

    def get_list_headless(self, **kwargs):
        from views.rest_list import lean_list_response, refused_filter

        refused = refused_filter(self, kwargs.get("rison", {}))
        if refused is not None:
            return self.response_400(message=refused)
        try:
            if self.lean_list:
                response = lean_list_response(self, kwargs.get("rison", {}))
                if response is not None:
                    return response
            listing = getattr(self.datamodel, "listing", None)
            if listing is None or not (self.list_options or self.list_count_limit):
                return super().get_list_headless(**kwargs)
            with listing(self.list_options, self.list_count_limit):
                return super().get_list_headless(**kwargs)
        except (DataError, ProgrammingError) as error:
            if not _bad_filter_value(error, kwargs.get("rison", {})):
                raise
            self.datamodel.session.rollback()
            return self.response_400(message=str(_l("筛选条件的值与字段的类型不符")))

    def _domain_response(self, error: DomainError):
        self.datamodel.session.rollback()
        return self.response(error.status, message=error.payload())

    # ------------------------------------------------------------- writes through the model's parsing
    def json_body(self):
        """The request's JSON body; `BadRequest` when it is not JSON."""
        if not request.is_json:
            raise BadRequest(_("请求必须是 JSON(Content-Type: application/json)"))
        body = request.get_json(silent=True)
        if body is None:
            raise BadRequest(_("请求体不是合法的 JSON"))
        return body

    def write_response(self, write, pk=None):
        """Answer a create (no `pk`: 201) or a correction of the record `pk` (200; 404 when the user cannot
        see it), made by `write(body, item) -> item` from the JSON body (`item` is None for a create), with
        the whole record. A body that is not JSON answers 400, a domain error its own status, a clash with
        stored rows 422; in each case nothing is written."""
        item = None
        if pk is not None:
            item = self.datamodel.get(pk, self._base_filters)
            if item is None:
                return self.response_404()
        session = self.datamodel.session
        try:
            item = write(self.json_body(), item)
        except BadRequest as err:
            session.rollback()
            return self.response_400(message=err.message)
        except DomainError as error:
            return self._domain_response(error)
        except IntegrityError:
            session.rollback()
            return self.response_422(message={"id": [str(CONFLICT)]})
        session.refresh(item)
        return self.response(201 if pk is None else 200, id=item.id, result=self.show_model_schema.dump(item))

    def post_headless(self):
        try:
            response = self._checked(super().post_headless())
            if response.status_code == 201:
                # answer with the whole record (id, foreign keys, derived values), not only what was sent
                payload = response.get_json(silent=True) or {}
                item = self.datamodel.get(payload.get("id"), self._base_filters)
                if item is not None:
                    return self.response(201, id=item.id, result=self.show_model_schema.dump(item))
            return response
        except DomainError as error:
            return self._domain_response(error)
        except (TypeError, ValueError, LookupError) as error:  # a body shaped unlike the schema
            return self._malformed(error)

    def _malformed(self, error):
        self.datamodel.session.rollback()
        logger.info("malformed body on %s: %s", request.path, error)
        return self.response_400(message=str(_l("请求内容的格式不正确,请检查字段类型")))

    def response_500(self, message=None):
        """FAB answers unexpected errors with their text; ours never show internals."""
        self.datamodel.session.rollback()
        return self.response(500, message=str(_l("系统内部错误,操作未完成,数据未保存")))

    def _init_properties(self):
        if versioned(self.datamodel.obj):
            # every answer about a record carries its version; PUT and transitions may send it back
            for attr in ("show_columns", "list_columns"):
                columns = getattr(self, attr, None)
                if columns and "version" not in columns:
                    setattr(self, attr, list(columns) + ["version"])
        super()._init_properties()

    def _body_version(self):
        """The version the client read: `version` in the JSON body (removed before the schema sees it)
        or an `If-Match` header."""
        body = request.get_json(silent=True) if request.is_json else None
        version = body.pop("version", None) if isinstance(body, dict) else None
        if version is None and request.headers.get("If-Match"):
            version = request.headers["If-Match"].strip().removeprefix("W/").strip('"')
        return version

    def put_headless(self, pk):
        try:
            version = self._body_version()
            if version is not None:
                item = self.datamodel.get(pk, self._base_filters)
                if item is not None:
                    check_version(item, version)
            response = self._checked(super().put_headless(pk))
        except DomainError as error:
            return self._domain_response(error)
        except (TypeError, ValueError, LookupError) as error:
            return self._malformed(error)
        if response.status_code == 200 and versioned(self.datamodel.obj):
            item = self.datamodel.get(pk, self._base_filters)
            if item is not None:
                payload = response.get_json() or {}
                if isinstance(payload.get("result"), dict):
                    payload["result"]["version"] = item.version
                response = self.response(200, **payload)
                response.headers["ETag"] = f'"{item.version}"'
        return response

    def get_headless(self, pk, **kwargs):
        response = super().get_headless(pk, **kwargs)
        if response.status_code == 200:
            version = (response.get_json() or {}).get("result", {}).get("version")
            if version is not None:
                response.headers["ETag"] = f'"{version}"'
        return response

    def delete_headless(self, pk):
        try:
            return self._checked(super().delete_headless(pk))
        except DomainError as error:
            return self._domain_response(error)

    def _checked(self, response):
        """Roll back whatever a refused request touched; validation messages in Chinese, fields named."""
        if response.status_code >= 400:
            self.datamodel.session.rollback()
        if response.status_code in (400, 422):
            payload = response.get_json(silent=True) or {}
            if "message" in payload:
                return self.response(response.status_code, message=chinese_messages(payload["message"]))
        return response

    # ------------------------------------------------------------- transitions
    def transition_params(self) -> dict:
        if not request.data:
            return {}
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise MarshmallowError({"body": [str(_l("请求体必须是 JSON 对象"))]})
        return body

    @api_expose("/<int:pk>/<string:transition>", methods=["POST"])
    @protect()
    @safe
    @permission_name("transition")
    def transition(self, pk: int, transition: str):
        """Apply a state transition to a record
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          - in: path
            schema:
              type: string
            name: transition
          requestBody:
            content:
              application/json:
                schema:
                  type: object
          responses:
            200:
              description: the updated record
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              description: the move is not allowed now
            422:
              $ref: '#/components/responses/422'
        """
        workflow = WORKFLOWS.get(self.workflow_type or "")
        if workflow is None:
            return self.response_404()
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            return self.response_404()
        try:
            params = self.transition_params()
        except MarshmallowError as err:
            return self.response_400(message=err.messages)
        version = params.pop("version", None)
        if version is None and request.headers.get("If-Match"):
            version = request.headers["If-Match"].strip().removeprefix("W/").strip('"')
        session = self.datamodel.session
        try:
            workflow.apply(session, item, transition, current_actor(), params=params, version=version)
            commit_or_conflict(session)
        except DomainError as error:
            return self._domain_response(error)
        except TypeError as error:  # unexpected keys in the body
            session.rollback()
            logger.info("bad transition body: %s", error)
            return self.response_400(message=str(_l("请求参数不正确:%(e)s", e=_unexpected_key(error))))
        session.refresh(item)
        return self.response(200, id=item.id, result=self.show_model_schema.dump(item))

    @api_expose("/<int:pk>/events", methods=["GET"])
    @protect()
    @safe
    @permission_name("events")
    def events(self, pk: int):
        """The event log of a record
        ---
        get:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: events, oldest first
        """
        workflow = WORKFLOWS.get(self.workflow_type or "")
        item = self.datamodel.get(pk, self._base_filters)
        if item is None or workflow is None:
            return self.response_404()
        events = workflow.events(self.datamodel.session, item.id)
        return self.response(200, result=[e.to_api(workflow) for e in events])

    @api_expose("/<int:pk>/history", methods=["GET"])
    @protect()
    @safe
    @permission_name("history")
    def history(self, pk: int):
        """The field history of a record: who changed which field when, old and new values
        ---
        get:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: changes, newest first
            404:
              $ref: '#/components/responses/404'
        """
        from models.history import history_of

        item = self.datamodel.get(pk, self._base_filters)
        if item is None or not getattr(self.datamodel.obj, "history_enabled", False):
            return self.response_404()
        return self.response(200, result=[entry.to_api() for entry in history_of(self.datamodel.session, item)])


def _bad_filter_value(error, args) -> bool:
    """Whether the database refused a `?q=` filter's value for its column's type (PostgreSQL: a data
    exception, class 22, or no operator for the two types, 42883: 'abc' for a boolean, 1 for a text)."""
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or ""
    filters = args.get("filters") if isinstance(args, dict) else None
    return bool(filters) and (code.startswith("22") or code == "42883")


def _unexpected_key(error: TypeError) -> str:
    text = str(error)
    if "unexpected keyword argument" in text:
        return text.split("unexpected keyword argument")[-1].strip()
    return text
