"""Workflow moves on screens: the `/do/<name>/<pk>` page and the grid actions that open it."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import lazy_gettext as _l

from models.base import DomainError, check_version
from models.workflow import WORKFLOWS
from views.base import VERSION_FIELD, commit_or_conflict, current_actor

logger = logging.getLogger(__name__)


class TransitionViewMixin:
    """Screens for a workflow: `/do/<name>/<pk>` shows the move's form (if it takes input), applies it
    through the workflow, flashes the result and returns to the record. Grid actions made with
    `transition_action` call the same page (or apply at once when the move takes no input)."""

    workflow_type: str | None = None
    # transition name -> WTForms form class collecting its parameters
    transition_forms: dict = {}
    transition_template = "wuye/transition_form.html"

    def _workflow(self):
        return WORKFLOWS[self.workflow_type]

    def _form_params(self, form) -> dict:
        return {k: v for k, v in form.data.items() if k != "csrf_token"}

    def apply_transition(self, item, name: str, params: dict | None = None) -> bool:
        session = self.datamodel.session
        try:
            self._workflow().apply(session, item, name, current_actor(), params=params or {})
            commit_or_conflict(session)
        except DomainError:
            session.rollback()
            raise
        return True

    @expose("/do/<string:name>/<pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("do_transition")
    def do_transition(self, name, pk):
        workflow = self._workflow()
        transition = workflow.transitions.get(name)
        ids = [p for p in str(pk).split(",") if p]
        items = [self.datamodel.get(i, self._base_filters) for i in ids]
        if transition is None or not items or any(i is None for i in items):
            abort(404)
        actor = current_actor()
        if not actor.can(transition.permission_name, workflow.permission_view):
            flash(str(_l("您没有「%(label)s」的权限", label=transition.label)), "danger")
            if len(items) == 1:
                return redirect(url_for(f"{self.__class__.__name__}.show", pk=items[0].id))
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        form_cls = self.transition_forms.get(name)
        form = form_cls() if form_cls else None
        if form is not None and hasattr(self, "prepare_transition_form"):
            self.prepare_transition_form(name, form, items)
        if request.method == "POST" and (form is None or form.validate()):
            params = self._form_params(form) if form is not None else {}
            params.pop(VERSION_FIELD, None)
            version = request.form.get(VERSION_FIELD) if len(items) == 1 else None
            done = 0
            for item in items:
                try:
                    check_version(item, version)
                    self.apply_transition(item, name, params)
                    done += 1
                except DomainError as error:
                    if form is not None and len(items) == 1:
                        field = getattr(form, error.field, None) if error.field else None
                        if field is not None:
                            field.errors = list(field.errors or []) + [error.message]
                        else:
                            flash(error.message, "danger")
                        return self.render_template(
                            self.transition_template, form=form, items=items, transition=transition, view=self
                        )
                    flash(f"{item}:{error.message}", "danger")
            if done:
                flash(str(_l("「%(label)s」已完成 %(n)s 条", label=transition.label, n=done)), "success")
            if len(items) == 1:
                return redirect(url_for(f"{self.__class__.__name__}.show", pk=items[0].id))
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        # a move without input still goes through a POST (CSRF): the page asks for confirmation
        return self.render_template(self.transition_template, form=form, items=items, transition=transition, view=self)


def transition_action(name: str, label, icon: str = "fa-play", multiple: bool = True):
    """A FAB grid/show action that opens the transition page for the selected rows."""
    from flask_appbuilder.actions import action

    @action(name, label, None, icon, multiple=multiple, single=True)
    def _act(self, items):
        items = items if isinstance(items, list) else [items]
        ids = ",".join(str(i.id) for i in items if i is not None)
        if not ids:
            abort(404)
        return redirect(url_for(f"{self.__class__.__name__}.do_transition", name=name, pk=ids))

    _act.__name__ = f"action_{name}"
    return _act
