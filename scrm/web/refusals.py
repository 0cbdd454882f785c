"""Why a console form was refused, in the reader's language (SPEC §11).

The domain words its refusals in English, for the JSON API's clients and without the web's
catalogues (a service never imports flask_babel): pydantic's own ("String should have at most
64 characters"), our validators' ("must be 1-64 characters, not only spaces") and a few of the
pages'. A console page shows each through :func:`reader_message`: a known wording becomes its
marked Chinese words (English from the catalogue), its numbers kept; any other is shown as the
domain wrote it. The JSON API keeps the domain's words unchanged: clients read the codes.
"""

from __future__ import annotations

import re

from flask_babel import gettext


def N_(words: str) -> str:  # noqa: N802 (gettext's name): marks words for the catalogue, translated when shown
    return words


# (the domain's wording, the words people read); named groups fill the %(name)s placeholders.
WORDINGS = tuple((re.compile(pattern), words) for pattern, words in (
    (r"(?:is required|Field required)", N_("必填")),
    (r"is not a field of .+", N_("不是这个表单的字段")),
    (r"String should have at most (?P<n>\d+) characters?", N_("最多 %(n)s 个字符")),
    (r"String should have at least (?P<n>\d+) characters?", N_("至少 %(n)s 个字符")),
    (r"must be 1-(?P<n>\d+) characters, not only spaces", N_("须为 1–%(n)s 个字符，不能只有空格")),
    (r"must not contain control characters", N_("不能含控制字符")),
    (r"Input should be a valid integer.*", N_("须为整数")),
    (r"Input should be a valid (?:number|decimal).*", N_("须为数字")),
    (r"Decimal input should have no more than (?P<n>\d+) decimal places?", N_("最多 %(n)s 位小数")),
    (r"Input should be greater than or equal to (?P<n>-?[\d.]+)", N_("须大于或等于 %(n)s")),
    (r"Input should be greater than (?P<n>-?[\d.]+)", N_("须大于 %(n)s")),
    (r"Input should be less than or equal to (?P<n>-?[\d.]+)", N_("须小于或等于 %(n)s")),
    (r"Input should be less than (?P<n>-?[\d.]+)", N_("须小于 %(n)s")),
    (r"Input should be a valid URL.*", N_("须为有效的网址")),
    (r"(?:Input should be a valid date.*|must be a date(?: written)?,? YYYY-MM-DD|from and to must be dates, YYYY-MM-DD)",
     N_("须为日期（YYYY-MM-DD）")),
    (r"Input should be (?P<choices>'.+)", N_("须为以下之一：%(choices)s")),
    (r"must not be before from", N_("不能早于开始日期")),
    (r"at most (?P<n>\d+) days before to", N_("最多比结束日期早 %(n)s 天")),
    (r"from must be before to, at most (?P<n>\d+) days apart", N_("开始日期须早于结束日期，最多相隔 %(n)s 天")),
    (r"from and to must be dates from (?P<first>\S+) to (?P<last>\S+)", N_("日期须在 %(first)s 到 %(last)s 之间")),
    (r"must be a date written YYYY-MM-DD, or null to forget it", N_("须为日期（YYYY-MM-DD），留空即清除")),
    (r"must be between (?P<first>\S+) and today \((?P<today>\S+)\)", N_("须在 %(first)s 到今天（%(today)s）之间")),
    # reply rules (scrm/replies/schemas.py)
    (r"an? (?:exact|contains) rule needs a keyword of 1-(?P<n>\d+) characters", N_("全匹配和半匹配规则需要 1–%(n)s 个字符的关键词")),
    (r"an? (?:default|follow) rule has no keyword", N_("默认回复和关注回复不用关键词")),
    (r"a text reply needs 1-(?P<n>\d+) bytes of text", N_("文字回复需要 1–%(n)s 字节的文字")),
    (r"is (?P<size>\d+) bytes of UTF-8; a WeChat text reply holds at most (?P<n>\d+)",
     N_("有 %(size)s 字节，微信的文字回复最多 %(n)s 字节")),
    # the menu (scrm/replies/menu.py): "菜单 2.1 menu 2.1: needs a name", the button's words worded too
    (r"菜单 (?P<at>[\d.]+) menu [\d.]+: (?P<rest>.+)", N_("菜单 %(at)s：%(rest)s")),
    (r"needs a name", N_("需要名称")),
    (r"「(?P<name>.+)」 is (?P<size>\d+) bytes; WeChat allows (?P<n>\d+) \(about (?P<chars>\d+) Chinese characters\)",
     N_("「%(name)s」有 %(size)s 字节，微信最多允许 %(n)s 字节（约 %(chars)s 个汉字）")),
    (r"a click button needs a key of 1-(?P<n>\d+) bytes \(the key tag rules see\)",
     N_("点击菜单需要 1–%(n)s 字节的 key（标签规则看到的就是它）")),
    (r"a link button needs an http:// or https:// URL", N_("链接菜单需要 http:// 或 https:// 开头的网址")),
    (r"must be an http:// or https:// URL", N_("须为 http:// 或 https:// 开头的网址")),
    (r"the URL is over WeChat's (?P<n>\d+) bytes", N_("网址超过了微信允许的 %(n)s 字节")),
    (r"choose 点击 click \(sends a key\) or 链接 view \(opens a page\), or add sub-buttons",
     N_("请选择「点击」（发送 key）或「链接」（打开网页），或添加子菜单")),
    (r"at most (?P<n>\d+) sub-buttons, not (?P<count>\d+)", N_("最多 %(n)s 个子菜单，现在有 %(count)s 个")),
    (r"a menu has 1-(?P<n>\d+) top buttons, not (?P<count>\d+)", N_("菜单须有 1–%(n)s 个主菜单，现在有 %(count)s 个")),
    # coupon templates and rules (scrm/coupons/schemas.py, coupon_templates.py), finding a customer
    (r"a cash coupon needs its amount", N_("代金券需要填减多少")),
    (r"a discount coupon needs its discount", N_("折扣券需要填折扣")),
    (r"a gift coupon needs its gift", N_("赠品券需要填赠品")),
    (r"a (?:cash|discount|gift) coupon has no (?:amount|discount|gift)", N_("只填所选类型的面值")),
    (r"a gift coupon has no minimum spend", N_("赠品券没有消费门槛")),
    (r"give valid_from and valid_until \(fixed dates\) or valid_days, not both", N_("填固定日期或领取后天数，二选一")),
    (r"fixed dates need both valid_from and valid_until", N_("固定日期需要开始和结束两天")),
    (r"must be after valid_from", N_("须晚于开始日期")),
    (r"an order_over rule needs the amount an order must reach", N_("订单满额规则需要填订单金额")),
    (r"stock (?P<stock>\d+) is below the (?P<issued>\d+) already issued", N_("库存 %(stock)s 少于已发的 %(issued)s 张")),
    (r"no store with the code (?P<codes>.+)", N_("没有门店代码 %(codes)s")),
    (r"no customer has this openid", N_("没有这个 openid 的顾客")),
    (r"no customer has this phone number", N_("没有这个手机号的顾客")),
    (r"must be a whole number from (?P<low>-?\d+) to (?P<high>-?\d+)", N_("须为 %(low)s 到 %(high)s 之间的整数")),
    # group welcome templates (scrm/groups/welcome.py)
    (r"a welcome needs text, an image or a link", N_("欢迎语至少要有文字、图片或链接之一")),
    (r"is (?P<size>\d+) bytes of UTF-8; WeCom allows at most (?P<n>\d+)", N_("有 %(size)s 字节，企业微信最多 %(n)s 字节")),
    (r"must be at most (?P<n>\d+) characters", N_("最多 %(n)s 个字符")),
    (r"must be WeChat's media_id: at most (?P<n>\d+) characters, no spaces",
     N_("须为微信的 media_id：最多 %(n)s 个字符，不含空格")),
    (r"an image is image_pic_url or image_media_id, not both", N_("图片只能是上传的图片或 media_id 之一")),
    (r"choose an image", N_("请选择一张图片。")),
    (r"WeCom takes a jpg or png image", N_("企业微信只收 JPG 或 PNG 图片。")),
    (r"WeCom takes an image of at most 2 MB", N_("企业微信只收不超过 2 MB 的图片。")),
    (r"a corp has at most (?P<n>\d+) group welcome templates; delete one first",
     N_("每个企业最多 %(n)s 条入群欢迎语，请先删除一条")),
    (r"a group live code uses this welcome template; take it off the code first",
     N_("有群活码在用这条欢迎语，请先在活码上换掉它")),
))


def reader_message(message: str) -> str:
    """``message`` in the reader's language when its wording is a known one, else as it is."""
    for pattern, words in WORDINGS:
        if found := pattern.fullmatch(message):
            values = found.groupdict()
            if "rest" in values:  # a prefix naming where, then a refusal of its own
                values["rest"] = reader_message(values["rest"])
            return gettext(words, **values)
    return message
