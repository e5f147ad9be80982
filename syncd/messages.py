"""Client replies and internal notes, rendered from the text templates in `config/templates`.

Templates are plain text with `$name` placeholders (string.Template): a studio edits them
without learning a template language, and a missing name fails loudly at `syncd check`.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

_ISSUE = frozenset({"issue_id", "issue_url", "subject", "ticket_id"})
_STATUS = _ISSUE | {"status", "old_status"}
# The names the engine passes to each template: a template may use these and no others.
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "in_work": _ISSUE | {"project", "estimate_line"},
    "linked_note": _ISSUE | {"project"},
    "estimate": frozenset({"estimate"}),
    "status_note": _STATUS,
    "done": _STATUS,
    "reopen_note": frozenset({"ticket_id", "ticket_url"}),
}
TEMPLATE_NAMES = tuple(PLACEHOLDERS)


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
        """Problems with the templates, one message each (empty when all render). Each is
        rendered with exactly the names the engine gives it, so a placeholder that would
        fail in a cycle fails here first."""
        problems = []
        for language in sorted(languages):
            for name, names in PLACEHOLDERS.items():
                try:
                    self.render(name, language, **{n: f"<{n}>" for n in names})
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
