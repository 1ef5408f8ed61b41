"""The default hotline flow, as data, and its bilingual prompt catalogue.

Used for a DID with no flow of its own (never silence) and as the seed flow of a new site.
Walk: welcome -> base routing -> identify the caller by number -> known? -> VIP? (higher
priority, offered to the account manager first) -> business hours (weekdays 09:00-18:00,
holidays closed) -> main menu: 1 ticket status, 2 order/subscription status, 3 repair
request (a known caller with assets hears them listed and picks one, or presses 0 to key
a serial number), 4 callback, 0 agent. After hours: self-service and callback only.

Rules: pure data (menus and digit prompts come from two small builders that add the
shared retries and timeout); ``DEFAULT_FLOW`` must pass
``ivr.flow.validate(DEFAULT_FLOW, PROMPTS)`` (a unit test checks it); every prompt has a
``zh`` and an ``en`` text.
"""

from __future__ import annotations

from typing import Any

PROMPTS: dict[str, dict[str, str]] = {
    "welcome": {"zh": "您好，欢迎致电客服热线。", "en": "Hello, welcome to the service hotline."},
    "welcome_back": {"zh": "欢迎回来。", "en": "Welcome back."},
    "main_menu": {
        "zh": "查询工单请按1，查询订单或订阅请按2，报修请按3，预约回电请按4，人工服务请按0。",
        "en": "For ticket status press 1, order or subscription status 2, a repair request 3, "
              "a callback 4, an agent 0.",
    },
    "invalid": {"zh": "输入有误，请重新输入。", "en": "Sorry, that is not a valid choice."},
    "closed": {
        "zh": "现在是非工作时间。查询工单请按1，查询订单请按2，预约回电请按4。",
        "en": "We are closed now. For ticket status press 1, order status 2, a callback 4.",
    },
    "enter_ticket": {"zh": "请输入工单号，以井号键结束。",
                     "en": "Please enter your ticket number, then the hash key."},
    "enter_serial": {"zh": "请输入设备序列号，以井号键结束。",
                     "en": "Please enter the serial number of the device, then the hash key."},
    "choose_asset": {"zh": "请选择要报修的设备；输入序列号请按0。",
                     "en": "Please choose the device to repair; to type its serial number "
                           "press 0."},
    # read back by the self-service actions (ivr.services), around spoken digits and dates
    "tickets_open": {"zh": "您有以下未完成的工单。", "en": "Here are your open tickets."},
    "no_open_tickets": {"zh": "您目前没有未完成的工单。", "en": "You have no open tickets."},
    "ticket_not_found": {"zh": "未找到该工单号。", "en": "We could not find that ticket number."},
    "ticket_number": {"zh": "工单号", "en": "Ticket number"},
    "updated_on": {"zh": "最近更新于", "en": "last updated on"},
    "status_new": {"zh": "已受理，等待安排。",
                   "en": "has been received and waits to be scheduled."},
    "status_routed": {"zh": "已派往服务站，等待服务站接单。",
                      "en": "has been sent to a service station, which will accept it "
                            "shortly."},
    "status_accepted": {"zh": "服务站已接单，正在安排工程师。",
                        "en": "has been accepted by the service station, which is "
                              "scheduling an engineer."},
    "status_on_the_way": {"zh": "工程师正在前往现场。", "en": "The engineer is on the way."},
    "status_on_site": {"zh": "工程师已到达现场，正在维修。",
                       "en": "The engineer is on site and working on it."},
    "status_waiting": {"zh": "正在等待配件或您的回复。",
                       "en": "is waiting for parts or for your reply."},
    "status_resolved": {"zh": "已处理完毕。", "en": "has been resolved."},
    "status_closed": {"zh": "已关闭。", "en": "is closed."},
    "status_cancelled": {"zh": "已取消。", "en": "was cancelled."},
    "kind_subscription": {"zh": "您的订阅", "en": "Your subscription"},
    "kind_contract": {"zh": "您的合同", "en": "Your contract"},
    "ends_on": {"zh": "到期日为", "en": "ends on"},
    "ended_on": {"zh": "已于以下日期到期", "en": "ended on"},
    "sub_active": {"zh": "目前有效。", "en": "It is active."},
    "sub_renewal_due": {"zh": "即将到期，续订请联系您的客户经理。",
                        "en": "It ends soon; your account manager can renew it."},
    "sub_renewed": {"zh": "已续订。", "en": "It has been renewed."},
    "sub_not_renewed": {"zh": "未续订。", "en": "It was not renewed."},
    "sub_cancelled": {"zh": "已取消。", "en": "It was cancelled."},
    "no_subscription": {"zh": "未找到您的订单或订阅。",
                        "en": "We found no order or subscription for you."},
    "serial_ending": {"zh": "序列号尾号", "en": "Serial number ending"},
    "press": {"zh": "请按", "en": "press"},
    "serial_not_found": {"zh": "未找到该序列号的设备。",
                         "en": "We could not find a device with that serial number."},
    "repair_created": {"zh": "已为您提交报修，工单号为", "en": "Your repair request is filed. "
                                                         "The ticket number is"},
    "repair_already_open": {
        "zh": "该设备已有一张正在处理的报修工单，您这次的来电已记入该工单。工单号为",
        "en": "This device already has an open repair ticket; your call has been added "
              "to it. The ticket number is"},
    "out_of_warranty": {"zh": "该设备已过保修期，维修可能收费。",
                        "en": "This device is out of warranty; the repair may be charged."},
    # an order's stage and expected arrival (issue 18): "order number 000123, at customs,
    # expected to arrive on 12 August"
    "orders_open": {"zh": "您有以下未完成的订单。", "en": "Here are your open orders."},
    "order_number": {"zh": "订单号", "en": "Order number"},
    "order_not_found": {"zh": "未找到该订单号。", "en": "We could not find that order number."},
    "stage_to_be_batched": {"zh": "正在安排向供应商订货。",
                            "en": "is being ordered from the supplier."},
    "stage_ordered": {"zh": "已向供应商订货。", "en": "has been ordered from the supplier."},
    "stage_shipped": {"zh": "供应商已发货，正在运输途中。",
                      "en": "has been shipped by the supplier."},
    "stage_customs": {"zh": "正在办理海关清关。", "en": "is in customs clearance."},
    "stage_inspection": {"zh": "正在进行检验。", "en": "is being inspected."},
    "stage_warehouse": {"zh": "已到达我们的仓库。", "en": "has reached our warehouse."},
    "stage_dispatched": {"zh": "已发往您处。", "en": "has been dispatched to you."},
    "stage_delivered": {"zh": "已送达。", "en": "has been delivered."},
    "expected_on": {"zh": "预计到货日期为", "en": "It is expected to arrive on"},
    "delivered_on": {"zh": "送达日期为", "en": "It was delivered on"},
    "order_back_ordered": {"zh": "其中部分商品缺货，正在补货。",
                           "en": "Some of its items are back-ordered."},
    "more": {"zh": "人工服务请按0，返回主菜单请按9。",
             "en": "For an agent press 0, for the main menu press 9."},
    "callback_confirmed": {"zh": "已为您预约回电，您的排队位置将保留。再见。",
                           "en": "We will call you back and keep your place in line. Goodbye."},
    "service_error": {"zh": "暂时无法查询，正在为您转接人工服务。",
                      "en": "We cannot look that up right now; connecting you to an agent."},
    "transfer": {"zh": "正在为您转接，请稍候。", "en": "Connecting you to an agent, please hold."},
    "goodbye": {"zh": "感谢您的来电，再见。", "en": "Thank you for calling. Goodbye."},
    # the automated satisfaction survey (ivr.survey_flow): the customer is called
    "survey_greeting": {
        "zh": "您好，这里是客服中心的满意度回访，耽误您一分钟，请用电话按键回答几个问题。",
        "en": "Hello, this is the service centre's satisfaction survey. Please answer a "
              "few questions on your keypad; it takes a minute."},
    "survey_overall": {
        "zh": "您对本次服务的总体满意度如何？非常满意请按5，非常不满意请按1，请按1到5。",
        "en": "How satisfied are you with our service overall? Press 5 for very "
              "satisfied down to 1 for very dissatisfied."},
    "survey_repair": {
        "zh": "您对维修的质量满意吗？请按1到5，5分为非常满意。",
        "en": "How satisfied are you with the quality of the repair? Press 1 to 5, 5 "
              "being very satisfied."},
    "survey_staff": {
        "zh": "您对服务人员的态度满意吗？请按1到5，5分为非常满意。",
        "en": "How satisfied are you with the staff who served you? Press 1 to 5, 5 "
              "being very satisfied."},
    "survey_invalid": {"zh": "请按1到5之间的数字键。", "en": "Please press a key from 1 to 5."},
    "survey_thanks": {"zh": "感谢您的评价，祝您生活愉快，再见。",
                      "en": "Thank you for your answers. Goodbye."},
}

HOLIDAYS_2026 = [
    "2026-01-01", "2026-01-02", "2026-01-03",
    "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20",
    "2026-02-21", "2026-02-22", "2026-02-23",
    "2026-04-04", "2026-04-05", "2026-04-06",
    "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05",
    "2026-06-19", "2026-06-20", "2026-06-21",
    "2026-09-25", "2026-09-26", "2026-09-27",
    "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06",
    "2026-10-07",
]
"""Closed days; a site adds its own through the run context's ``holidays``. Approximate:
check the State Council's notice each year."""

_MENU = {"retries": 2, "timeout_ms": 5000, "invalid_prompt": "invalid"}


def _menu(prompt: str, choices: dict[str, str], *, default: str) -> dict[str, Any]:
    """A keypad menu with the flow's common retries, timeout and invalid-key prompt."""
    return {"type": "menu", "prompt": prompt, "default": default, "choices": choices, **_MENU}


def _digits(prompt: str, *, store: str, min_digits: int, max_digits: int, terminator: str,
            next: str, default: str) -> dict[str, Any]:
    """Keyed digits stored under ``store``, with the same retries and timeout as a menu."""
    return {"type": "digits", "prompt": prompt, "min_digits": min_digits,
            "max_digits": max_digits, "terminator": terminator, "store": store,
            "next": next, "default": default, **_MENU}

DEFAULT_FLOW: dict[str, Any] = {
    "flow": "default",
    "version": 1,
    "start": "welcome",
    "languages": ["zh", "en"],
    "steps": {
        "welcome": {"type": "play", "prompt": "welcome", "next": "base_route"},
        "base_route": {"type": "route", "queue": "support", "priority": 0,
                       "next": "identify"},
        "identify": {"type": "lookup", "kind": "caller_number", "value": "$caller",
                     "next": "known"},
        "known": {"type": "branch", "condition": "known_customer", "then": "welcome_back",
                  "else": "hours"},
        "welcome_back": {"type": "play", "prompt": "welcome_back", "next": "vip"},
        "vip": {"type": "branch", "condition": "vip", "tiers": ["vip", "gold"],
                "then": "vip_route", "else": "hours"},
        "vip_route": {"type": "route", "priority": 10, "preferred_agent": "$account_manager",
                      "next": "hours"},
        "hours": {"type": "branch", "condition": "business_hours", "days": [1, 2, 3, 4, 5],
                  "open": "09:00", "close": "18:00", "holidays": HOLIDAYS_2026,
                  "then": "main_menu", "else": "closed_menu"},
        "main_menu": _menu("main_menu", {"1": "has_ticket", "2": "order_status",
                                         "3": "can_repair", "4": "callback", "0": "to_agent"},
                           default="to_agent"),
        "closed_menu": _menu("closed", {"1": "has_ticket", "2": "order_status",
                                        "4": "callback"}, default="callback"),
        "has_ticket": {"type": "branch", "condition": "open_ticket", "then": "my_tickets",
                       "else": "ask_ticket"},
        "my_tickets": {"type": "self_service", "action": "ticket_status",
                       "args": {"customer_id": "$customer.id"}, "next": "more",
                       "on_error": "service_error"},
        "ask_ticket": _digits("enter_ticket", store="ticket_no", min_digits=6, max_digits=12,
                              terminator="#", next="ticket_by_number", default="to_agent"),
        "ticket_by_number": {"type": "self_service", "action": "ticket_status",
                             "args": {"ticket_no": "$ticket_no"}, "next": "more",
                             "on_error": "service_error"},
        "order_status": {"type": "self_service", "action": "order_status",
                         "args": {"customer_id": "$customer.id", "caller": "$caller"},
                         "next": "more", "on_error": "service_error"},
        "can_repair": {"type": "branch", "condition": "known_customer", "then": "has_assets",
                       "else": "repair_agent"},
        "has_assets": {"type": "branch", "condition": "has_assets", "then": "list_assets",
                       "else": "ask_serial"},
        "list_assets": {"type": "self_service", "action": "list_assets",
                        "args": {"customer_id": "$customer.id"}, "next": "pick_asset",
                        "on_error": "ask_serial"},
        "pick_asset": _digits("choose_asset", store="asset_choice", min_digits=1,
                              max_digits=1, terminator="", next="repair_pick",
                              default="ask_serial"),
        "repair_pick": {"type": "self_service", "action": "repair_request",
                        "args": {"customer_id": "$customer.id", "choice": "$asset_choice"},
                        "next": "more", "on_error": "ask_serial"},
        "ask_serial": _digits("enter_serial", store="serial", min_digits=4, max_digits=20,
                              terminator="#", next="repair", default="repair_agent"),
        "repair": {"type": "self_service", "action": "repair_request",
                   "args": {"customer_id": "$customer.id", "serial": "$serial"},
                   "next": "more", "on_error": "repair_agent"},
        "repair_agent": {"type": "route", "skill": "repair", "next": "to_agent"},
        "callback": {"type": "self_service", "action": "callback",
                     "args": {"caller": "$caller", "customer_id": "$customer.id"},
                     "next": "callback_confirmed", "on_error": "to_agent"},
        "callback_confirmed": {"type": "play", "prompt": "callback_confirmed",
                               "next": "hangup"},
        "more": _menu("more", {"0": "agent_hours", "9": "main_menu"}, default="goodbye"),
        "agent_hours": {"type": "branch", "condition": "business_hours",
                        "days": [1, 2, 3, 4, 5], "open": "09:00", "close": "18:00",
                        "holidays": HOLIDAYS_2026, "then": "to_agent", "else": "callback"},
        "service_error": {"type": "play", "prompt": "service_error", "next": "to_agent"},
        "to_agent": {"type": "play", "prompt": "transfer", "next": "queue"},
        "queue": {"type": "handoff", "kind": "queue"},
        "goodbye": {"type": "play", "prompt": "goodbye", "next": "hangup"},
        "hangup": {"type": "handoff", "kind": "hangup"},
    },
}
