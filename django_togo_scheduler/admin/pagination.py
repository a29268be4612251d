"""Changelist pages that never count the table.

Django's paginator runs ``COUNT(*)`` over the filtered table on every page; on a
million runs that is the slowest query of the page. Here a page fetches one row
more than it shows: if that row exists there is a next page. The changelist shows
"previous", the page number and "next" instead of a row count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.paginator import (
    EmptyPage,
    InvalidPage,
    Page,
    PageNotAnInteger,
    Paginator,
)
from django.http import HttpRequest

if TYPE_CHECKING:
    PageBase = Page[Any]
    PaginatorBase = Paginator[Any]
else:  # not subscriptable at run time
    PageBase, PaginatorBase = Page, Paginator


class NoCountPage(PageBase):
    """A page that knows whether another follows without knowing how many."""

    def __init__(
        self,
        object_list: Sequence[Any],
        number: int,
        paginator: PaginatorBase,
        more: bool,
    ) -> None:
        super().__init__(object_list, number, paginator)
        self.more = more

    def __repr__(self) -> str:
        return f"<Page {self.number}>"

    def has_next(self) -> bool:
        return self.more

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def start_index(self) -> int:
        return (
            (self.number - 1) * self.paginator.per_page + 1 if self.object_list else 0
        )

    def end_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + len(self.object_list)


class NoCountPaginator(PaginatorBase):
    """Fetches ``per_page + 1`` rows a page and never runs ``COUNT(*)``."""

    def validate_number(self, number: Any) -> int:
        try:
            value = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if value < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return value

    def page(self, number: Any) -> NoCountPage:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        return NoCountPage(
            rows[: self.per_page], number, self, more=len(rows) > self.per_page
        )

    @property
    def count(self) -> int:
        raise TypeError("NoCountPaginator does not count; use page().has_next().")


class NoCountChangeList(ChangeList):
    """A changelist paged by :class:`NoCountPaginator`; ``prepare_page`` may decorate the rows."""

    # The app's pagination.html pages these without a count, others as Django does.
    no_count = True

    def get_results(self, request: HttpRequest) -> None:
        paginator = self.model_admin.get_paginator(
            request, self.queryset, self.list_per_page
        )
        try:
            page = paginator.page(self.page_num)
        except InvalidPage:
            raise IncorrectLookupParameters from None
        self.paginator = paginator
        self.page = page
        self.result_list = list(page.object_list)
        # Only the rows shown are known: "select all N" and "N results" are off.
        self.result_count = len(self.result_list)
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = True
        self.can_show_all = False
        self.multi_page = page.has_other_pages()
        self.previous_page_url = (
            self.get_query_string({PAGE_VAR: page.number - 1})
            if page.has_previous()
            else ""
        )
        self.next_page_url = (
            self.get_query_string({PAGE_VAR: page.number + 1})
            if page.has_next()
            else ""
        )
        self.prepare_page(self.result_list)

    def prepare_page(self, rows: list[Any]) -> None:
        """Hook: load what the page's rows show besides their own fields."""
