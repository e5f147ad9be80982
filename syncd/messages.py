"""Client replies and internal notes, rendered from the text templates in `config/templates`.

Templates are plain text with `$name` placeholders (string.Template): a studio edits them
without learning a template language, and a missing name fails loudly at `syncd check`.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

TEMPLATE_NAMES = ("in_work", "done", "estimate", "linked_note", "status_note", "reopen_note")


class TemplateError(Exception):
    pass


class Messages:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[tuple[str, str], Template] = {}

    def render(self, name: str, language: str, **values: object) -> str:
        template = self._template(name, language)
        try:
            return template.substitute({k: str(v) for k, v in values.items()}).strip()
        except KeyError as e:
            raise TemplateError(
                f"{self._path(name, language)}: unknown placeholder ${e.args[0]}"
            ) from None
        except ValueError as e:
            raise TemplateError(f"{self._path(name, language)}: {e}") from None

    def check(self, languages: set[str]) -> list[str]:
        """Problems with the templates, one message each (empty when all render)."""
        sample = {
            "subject": "s",
            "issue_id": 1,
            "ticket_id": 1,
            "issue_url": "u",
            "ticket_url": "u",
            "project": "p",
            "status": "s",
            "old_status": "s",
            "estimate": "1",
            "estimate_line": "",
            "client": "c",
        }
        problems = []
        for language in sorted(languages):
            for name in TEMPLATE_NAMES:
                try:
                    self.render(name, language, **sample)
                except TemplateError as e:
                    problems.append(str(e))
        return problems

    def _path(self, name: str, language: str) -> Path:
        return self.directory / language / f"{name}.txt"

    def _template(self, name: str, language: str) -> Template:
        key = (name, language)
        if key not in self._cache:
            path = self._path(name, language)
            try:
                self._cache[key] = Template(path.read_text(encoding="utf-8"))
            except OSError as e:
                raise TemplateError(f"{path}: cannot read template: {e.strerror}") from None
        return self._cache[key]
