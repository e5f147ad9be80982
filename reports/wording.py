"""The words a billing line uses to explain itself, in the client's language (ru, en).

Kept apart from the computation so an invoice reads in one language from top to bottom: the
renderer translates its own labels, this translates what the computation says.
"""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "rounded_up": "{hours} h rounded up to {step} h steps",
        "rounded_nearest": "{hours} h rounded to the nearest {step} h",
        "within_tariff": "within the plan's hours; overage below",
        "subscription_covers": "covered by the subscription",
        "charged_when_done": "per-request price is charged in the month it is done ({when})",
        "done_on": "done {date}",
        "not_done": "not done yet",
        "agreed_price": "the price agreed in the ticket",
        "estimate_price": "estimate {hours} h × {rate}",
        "plan_price": "the plan's price per request",
        "no_price": "NO PRICE: set the ticket's price field or an estimate",
        "minimum": "minimum charge per request {amount}",
        "fee_subscription": "subscription {plan}, {month}",
        "fee_tariff": "tariff {plan}, {month}: {hours} h included",
        "overage": "{hours} h beyond the included hours",
        "no_issue": "time on project {project} without an issue",
        "entry_gone": "entry #{id} ({hours} h on {date}, {user}) deleted or moved after invoicing",
        "entry_added": "entry #{id} ({hours} h on {date}, {user}) added after invoicing",
        "entry_edited": "entry #{id} edited: {old} h → {new} h",
        "activity_changed": ", {old} → {new}",
        "recalculated": "recalculated (rules or plan)",
        "charges_recalculated": "plan charges recalculated: {old} → {new}",
        "ticket_merged": "the Zendesk ticket was merged into #{target}",
        "ticket_merged_elsewhere": "the Zendesk ticket was merged into another ticket",
        "ticket_deleted": "the Zendesk ticket was deleted",
        "ticket_spam": "the Zendesk ticket was deleted as spam",
        "ticket_client_changed": "the Zendesk ticket now belongs to another organization",
    },
    "ru": {
        "rounded_up": "{hours} ч округлено вверх до шага {step} ч",
        "rounded_nearest": "{hours} ч округлено до ближайших {step} ч",
        "within_tariff": "в пределах часов тарифа; сверх них — ниже",
        "subscription_covers": "входит в абонентскую плату",
        "charged_when_done": "цена заявки выставляется в месяце её выполнения ({when})",
        "done_on": "выполнена {date}",
        "not_done": "ещё не выполнена",
        "agreed_price": "цена, согласованная в заявке",
        "estimate_price": "оценка {hours} ч × {rate}",
        "plan_price": "цена заявки по тарифу",
        "no_price": "НЕТ ЦЕНЫ: укажите цену в заявке или оценку",
        "minimum": "минимальная сумма за заявку {amount}",
        "fee_subscription": "абонентская плата {plan}, {month}",
        "fee_tariff": "тариф {plan}, {month}: включено {hours} ч",
        "overage": "{hours} ч сверх включённых",
        "no_issue": "время по проекту {project} без задачи",
        "entry_gone": "запись #{id} ({hours} ч, {date}, {user}) удалена или перенесена "
        "после выставления счёта",
        "entry_added": "запись #{id} ({hours} ч, {date}, {user}) добавлена после выставления счёта",
        "entry_edited": "запись #{id} изменена: {old} ч → {new} ч",
        "activity_changed": ", {old} → {new}",
        "recalculated": "пересчитано (правила или тариф)",
        "charges_recalculated": "платежи по тарифу пересчитаны: {old} → {new}",
        "ticket_merged": "тикет Zendesk объединён с #{target}",
        "ticket_merged_elsewhere": "тикет Zendesk объединён с другим тикетом",
        "ticket_deleted": "тикет Zendesk удалён",
        "ticket_spam": "тикет Zendesk удалён как спам",
        "ticket_client_changed": "тикет Zendesk теперь относится к другой организации",
    },
}


def say(language: str, key: str, **values: object) -> str:
    return WORDS.get(language, WORDS["en"])[key].format(**values)
