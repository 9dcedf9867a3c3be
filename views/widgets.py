"""The list screens' grid and search menu: FAB's look, less work per page.

FAB's list widget calls a macro per row (with three URL builds) and evaluates the formatter of each
cell in Jinja; `ScreenListWidget` builds the rows in Python (the row buttons are rendered once per
page by FAB's macro and repeated with each row's key). FAB's search widget renders every search field
(the relation fields with a query each) and translates every filter name on every page;
`ScreenSearchWidget` keeps them per view, locale and estate scope (app/screen_cache.py).
"""

from __future__ import annotations

from flask_appbuilder._compat import as_unicode
from flask_appbuilder.widgets import ListWidget, SearchWidget
from markupsafe import Markup, escape

from app.screen_cache import cached_lookup

PK_MARK = "0WUYEPK0"  # stands for a row's key in the row buttons rendered once per page


class ScreenListWidget(ListWidget):
    """FAB's grid (same header, pagination, actions, check boxes, row buttons and cells)."""

    template = "wuye/widgets/list.html"

    def __call__(self, **kwargs):
        kwargs["render_rows"] = self.render_rows
        kwargs["pk_mark"] = PK_MARK
        return super().__call__(**kwargs)

    def render_rows(self, buttons, check_boxes: bool) -> Markup:
        """The table rows: a check box when there are actions, the row buttons (`buttons`, rendered
        with PK_MARK for the key), then each column through its formatter, escaped as Jinja would."""
        args = self.template_args
        columns = list(args["include_columns"])
        formatters = [args["formatters_columns"].get(c) for c in columns]
        buttons = str(buttons) if buttons else ""
        out = []
        for pk, item in zip(args["pks"], args["value_columns"], strict=True):
            key = str(escape(pk))
            out.append("<tr>")
            if check_boxes:
                out.append(f'<td><input id="{key}" class="action_check" name="rowid" value="{key}" type="checkbox"></td>')
            if buttons:
                out.append(f"<td><center>{buttons.replace(PK_MARK, key)}</center></td>")
            for column, formatter in zip(columns, formatters, strict=True):
                value = item[column]
                out.append(f"<td>{escape(formatter(value) if formatter else value)}</td>")
            out.append("</tr>")
        return Markup("".join(out))


class ScreenSearchWidget(SearchWidget):
    """FAB's search menu; its fields, labels and filter names are built once per view, locale and
    estate scope, the active filters for each request."""

    def __call__(self, **kwargs):
        args = self.template_args
        columns = tuple(args["include_cols"])

        def build():
            form = args["form"]
            form = form() if callable(form) and not hasattr(form, "_fields") else form
            dict_filters = self.filters.get_search_filters()
            return (
                {c: as_unicode(form[c].label.text) for c in columns},
                {c: form[c]() for c in columns},
                {c: [as_unicode(f.name) for f in dict_filters[c]] for c in columns},
            )

        labels, fields, names = cached_lookup(("search", args.get("route_base"), columns), build)
        kwargs["label_columns"] = labels
        kwargs["form_fields"] = fields
        kwargs["search_filters"] = names
        kwargs["active_filters"] = self.filters.get_filters_values_tojson()
        # FAB's SearchWidget.__call__ would build them all again: go straight to the template
        return super(SearchWidget, self).__call__(**kwargs)
