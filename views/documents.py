"""What the record screens share: a list with its toolbar (extra buttons, a print of the list, the Excel
export), a show page with the record's 处理经过 (event log), links, tables and only the moves the record's
state and the user's rights allow, and the printed form of one record."""

from __future__ import annotations

from flask import abort, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_order_args, get_page_args, get_page_size_args
from flask_babel import lazy_gettext as _l

from models.base import local, utcnow
from models.workflow import WORKFLOWS
from views.base import current_actor


class ActionSet(dict):
    """The actions a show page offers; truthy even when empty (FAB falls back to all actions otherwise)."""

    def __bool__(self) -> bool:
        return True


class ListToolbarMixin:
    """A list with its toolbar: `list_links()` buttons, the Excel export (for users who may export) and,
    with `list_print`, a date-range print of the list (the view's own `print_view`, without a record)."""

    list_template = "wuye/billing_list.html"
    list_print = False

    def list_links(self) -> list[tuple[str, str, str]]:
        """(label, url, icon) buttons above the list."""
        return []

    def list_context(self) -> dict:
        context = {"list_links": self.list_links()}
        name = self.__class__.__name__
        if hasattr(self, "export") and self.appbuilder.sm.has_access("can_export", self.class_permission_name):
            context["export_url"] = url_for(f"{name}.export")
        if self.list_print:
            context["print_url"] = url_for(f"{name}.print_view")
            context["today"] = local(utcnow()).date().isoformat()
        return context

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            for key, value in self.list_context().items():
                kwargs.setdefault(key, value)
        return super().render_template(template, **kwargs)


class DocumentViewMixin(ListToolbarMixin):
    """A record screen: the list toolbar, the show page and the printed form; each area names its templates.

    - show: `show_extra(item)` (by default `links`, `tables`, `buttons`) beside the record and its events,
      with only the moves the record's state and the user's rights allow (and `action_visible`);
    - print: `print_template` filled from `print_context(item)` (print_base.html), linked from the show page.
    """

    show_template = "wuye/billing_show.html"
    print_template: str | None = None
    print_title = None

    # ------------------------------------------------------------ show
    def _document_workflow(self):
        return WORKFLOWS.get(getattr(self, "workflow_type", None) or "")

    def action_visible(self, item, name: str) -> bool:
        return True

    def _available_actions(self, item) -> ActionSet:
        workflow = self._document_workflow()
        allowed = {t.name for t in workflow.available(item, current_actor())} if workflow else set()
        return ActionSet({
            name: a for name, a in self.actions.items()
            if (workflow is None or name in allowed or name not in workflow.transitions) and self.action_visible(item, name)
        })

    def show_links(self, item) -> list[tuple[str, str | None]]:
        """(label, url) links shown with the record; the print link when the record prints."""
        links = []
        if self.print_template:
            links.append((str(_l("打印")), url_for(f"{self.__class__.__name__}.print_view", pk=item.id)))
        return links

    def show_tables(self, item) -> list[dict]:
        """[{title, headers, rows, foot?}] shown under the record."""
        return []

    def show_buttons(self, item) -> list[tuple[str, str, str]]:
        """(label, url, icon) buttons shown above the record (one-click follow-ups)."""
        return []

    def show_extra(self, item) -> dict:
        """What the show template gets besides the record and its events."""
        return {"links": self.show_links(item), "tables": self.show_tables(item), "buttons": self.show_buttons(item)}

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        widgets = self._get_show_widget(pk, item, actions=self._available_actions(item))
        widgets = self._get_related_views_widgets(
            item, orders=get_order_args(), pages=get_page_args(), page_sizes=get_page_size_args(), widgets=widgets
        )
        self.update_redirect()
        workflow = self._document_workflow()
        events = workflow.events(self.datamodel.session, item.id) if workflow else []
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            related_views=self._related_views,
            item=item,
            events=events,
            workflow=workflow,
            **self.show_extra(item),
        )

    # ------------------------------------------------------------ print
    def print_context(self, item) -> dict:
        """form_title, estate_name and doc_no of the printed form (print_base.html)."""
        return {
            "form_title": str(self.print_title or self.show_title),
            "estate_name": item.estate.name if getattr(item, "estate", None) else "",
            "doc_no": getattr(item, "number", None),
        }

    @expose("/print/<pk>")
    @has_access
    def print_view(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None or not self.print_template:
            abort(404)
        return self.render_template(self.print_template, item=item, **self.print_context(item))
