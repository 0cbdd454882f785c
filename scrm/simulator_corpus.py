"""What simulated customers say and do: a small built-in corpus for ``scrm simulate``.

Texts are what a maternal-and-baby retail brand's followers send (母婴零售), written to hit
the keywords a community manager configures first (奶粉, 尿不湿, 优惠券, 门店, 营业时间…),
with some chatter no keyword matches. Menu keys, article URLs, QR scenes and guides are
those of an imagined demo brand; scenes follow the ``kind:code`` form the guide and store
codes use (``g:G001`` a guide, ``s:SH01`` a store, ``c:…`` a campaign poster).
"""

from __future__ import annotations

TEXTS = (
    "奶粉",
    "你好，请问飞鹤奶粉有货吗？",
    "3段奶粉多少钱一罐",
    "宝宝喝的奶粉可以冲多少毫升",
    "尿不湿",
    "尿不湿L码还有吗",
    "帮宝适尿不湿有活动吗",
    "拉拉裤和尿不湿哪个好",
    "优惠券",
    "优惠券怎么领",
    "我的优惠券在哪里看",
    "满199减30的优惠券还能用吗",
    "门店",
    "离我最近的门店在哪",
    "万达那家门店还开吗",
    "营业时间",
    "你们营业时间是几点到几点",
    "周末营业时间一样吗",
    "会员积分怎么查",
    "积分可以换什么",
    "快递几天能到",
    "怎么退货",
    "湿巾买一送一还有吗",
    "辅食从几个月开始加",
    "新品什么时候到",
    "在吗",
    "你好",
    "谢谢",
    "好的[微笑]",
    "宝宝最近老是吐奶怎么办",
    "导购小王今天上班吗",
    "VIP",
)

# Custom menu (自定义菜单): CLICK items carry a key, VIEW items open a page.
MENU_CLICK_KEYS = (
    "MENU_COUPONS",
    "MENU_MEMBER_CARD",
    "MENU_STORES_NEARBY",
    "MENU_NEW_ARRIVALS",
    "MENU_CONTACT_GUIDE",
    "MENU_DAILY_SIGN_IN",
)
MENU_VIEW_URLS = (
    "https://m.demo-brand.example/mall/index",
    "https://m.demo-brand.example/activity/618",
    "https://m.demo-brand.example/member/center",
    "https://m.demo-brand.example/articles/feeding-guide",
    "https://m.demo-brand.example/articles/sleep-tips",
)

# Guide codes and the WeCom member (导购) behind each.
GUIDES = (
    ("G001", "zhangwei"),
    ("G002", "wangfang"),
    ("G003", "lina"),
    ("G004", "liuyang"),
    ("G005", "chenjing"),
    ("G006", "yangmin"),
)
OTHER_SCENES = ("s:SH01", "s:SH02", "s:BJ01", "c:spring-sale", "c:new-mom")

# Where customers are, for location messages (label, latitude, longitude).
PLACES = (
    ("上海市浦东新区张杨路500号", "31.2304", "121.5273"),
    ("上海市徐汇区漕溪北路88号", "31.1951", "121.4365"),
    ("北京市朝阳区建国路93号", "39.9087", "116.4737"),
)
