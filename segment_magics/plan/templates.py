"""Built-in plans for Segment's semantic specs, written in the compact notation.

Properties and types follow Segment's spec pages, and every example payload on those
pages passes (tests/data/spec-examples). The spec marks no property as required, so
the templates choose: the id an event is about (product_id, order_id, cart_id, ...),
for orders the currency destinations need, for video the session_id. ``show``
labels these marks as the template's choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .compact import parse_compact
from .model import Plan

_PRODUCT = """\
  product_id: string!
  sku: string
  category: string
  name: string
  brand: string
  variant: string
  price: number >= 0
  quantity: number >= 0
  coupon: string
  position: number
  url: string
  image_url: string
"""
_PRODUCTS = """\
  products: array
""" + "".join("  " + line + "\n" for line in _PRODUCT.splitlines())
_ORDER_MONEY = """\
  affiliation: string
  total: number
  revenue: number
  shipping: number
  tax: number
  discount: number
  coupon: string
  currency: string
"""
_FILTERS = """\
  filters: array
    type: string
    value: string
  sorts: array
    type: string
    value: string
"""
_PROMOTION = """\
  promotion_id: string!
  creative: string
  name: string
  position: string
"""
_CHECKOUT_STEP = """\
  checkout_id: string!
  step: number!
  shipping_method: string
  payment_method: string
"""
_COUPON = """\
  order_id: string
  cart_id: string
  coupon_id: string!
  coupon_name: string
"""
_SHARING = """\
  share_via: string
  share_message: string
  recipient: string
"""
_WISHLIST = """\
  wishlist_id: string!
  wishlist_name: string
"""


def _event(name: str, *parts: str) -> str:
    return name + "\n" + "".join(parts)


ECOMMERCE_V2 = "\n".join(
    [
        _event("Products Searched", "  query: string|object!\n"),
        _event("Product List Viewed", "  list_id: string\n  category: string\n", _PRODUCTS),
        _event(
            "Product List Filtered", "  list_id: string\n  category: string\n", _FILTERS, _PRODUCTS
        ),
        _event("Promotion Viewed", _PROMOTION),
        _event("Promotion Clicked", _PROMOTION),
        _event("Product Clicked", _PRODUCT),
        _event("Product Viewed", _PRODUCT, "  currency: string\n  value: number\n"),
        _event("Product Added", "  cart_id: string\n", _PRODUCT),
        _event("Product Removed", "  cart_id: string\n", _PRODUCT),
        # The spec page's "Cart Shared" example is sent as Cart Viewed: accept it.
        _event("Cart Viewed", "  cart_id: string!\n", _SHARING, _PRODUCTS),
        _event(
            "Checkout Started",
            "  order_id: string!\n  value: number\n",
            _ORDER_MONEY.replace("  total: number\n", ""),
            _PRODUCTS,
        ),
        _event("Checkout Step Viewed", _CHECKOUT_STEP),
        _event("Checkout Step Completed", _CHECKOUT_STEP),
        _event(
            "Payment Info Entered",
            _CHECKOUT_STEP.replace("step: number!", "step: number"),
            "  order_id: string\n",
        ),
        _event("Order Updated", "  order_id: string!\n", _ORDER_MONEY, _PRODUCTS),
        _event(
            "Order Completed",
            "  checkout_id: string\n  order_id: string!\n  subtotal: number\n",
            _ORDER_MONEY.replace("  revenue: number\n", "  revenue: number >= 0\n").replace(
                "  currency: string\n", "  currency: string!\n"
            ),
            _PRODUCTS,
        ),
        _event("Order Refunded", "  order_id: string!\n", _ORDER_MONEY, _PRODUCTS),
        _event("Order Cancelled", "  order_id: string!\n", _ORDER_MONEY, _PRODUCTS),
        _event("Coupon Entered", _COUPON),
        _event("Coupon Applied", _COUPON, "  discount: number\n"),
        _event(  # the spec's example names the coupon `coupon`, without coupon_id
            "Coupon Denied",
            _COUPON.replace("coupon_id: string!", "coupon_id: string"),
            "  coupon: string\n  reason: string\n",
        ),
        _event("Coupon Removed", _COUPON, "  discount: number\n"),
        _event("Product Added to Wishlist", _WISHLIST, _PRODUCT),
        _event("Product Removed from Wishlist", _WISHLIST, _PRODUCT),
        _event("Wishlist Product Added to Cart", _WISHLIST, "  cart_id: string\n", _PRODUCT),
        _event("Product Shared", _SHARING, _PRODUCT),
        _event("Cart Shared", _SHARING, "  cart_id: string!\n", _PRODUCTS),
        _event(
            "Product Reviewed",
            "  product_id: string!\n  review_id: string!\n  review_body: string\n"
            "  rating: string\n",
        ),
    ]
)

B2B_SAAS = """\
Account Created
  account_name: string!
Account Deleted
  account_name: string!
Signed Up
  type: string
  first_name: string
  last_name: string
  email: string
  phone: string
  username: string
  title: string
Signed In
  username: string
Signed Out
  username: string
Invite Sent
  invitee_email: string!
  invitee_first_name: string
  invitee_last_name: string
  invitee_role: string
Account Added User
  role: string
Account Removed User
Trial Started
  trial_start_date: datetime
  trial_end_date: datetime
  trial_plan_name: string
Trial Ended
  trial_start_date: datetime
  trial_end_date: datetime
  trial_plan_name: string
identify
  email: string
  name: string
  plan: string
group
  name: string
  plan: string
  employees: integer >= 0
"""


# Segment's Video spec: playback events describe the player, content and ad events
# the pod playing. Ids may be null between pods and lists on Playback Started, as the
# spec's own examples send them.
_PLAYBACK = """\
  session_id: string!
  content_asset_id: string|null
  content_asset_ids: string[]
  content_pod_id: string|null
  content_pod_ids: string[]
  ad_asset_id: string|array|null
  ad_asset_ids: string[]
  ad_pod_id: string|array|null
  ad_pod_ids: string[]
  ad_type: string|array|null
  ad_types: string[]
  position: integer
  seek_position: integer
  total_length: integer|null
  bitrate: integer
  framerate: number
  video_player: string
  sound: integer 0..100
  full_screen: boolean
  ad_enabled: boolean
  quality: string
  method: string
  livestream: boolean
"""
_CONTENT = """\
  session_id: string!
  asset_id: string
  pod_id: string
  title: string
  description: string
  keywords: string[]
  season: string
  episode: string
  genre: string
  program: string
  publisher: string
  position: integer
  total_length: integer|null
  channel: string
  full_episode: boolean
  livestream: boolean
  airdate: string
  bitrate: integer
  framerate: number
"""
_AD = """\
  session_id: string!
  asset_id: string
  pod_id: string
  pod_position: integer
  pod_length: integer
  type: string in [pre-roll, mid-roll, post-roll]
  title: string
  publisher: string
  position: integer
  total_length: integer
  load_type: string in [linear, dynamic]
  content: object
  quartile: integer 1..3
"""
_PLAYBACK_EVENTS = ("Started", "Paused", "Interrupted", "Buffer Started", "Buffer Completed",
                    "Seek Started", "Seek Completed", "Resumed", "Completed", "Exited")  # fmt: skip
VIDEO = "\n".join(
    [_event(f"Video Playback {name}", _PLAYBACK) for name in _PLAYBACK_EVENTS]
    + [_event(f"Video Content {name}", _CONTENT) for name in ("Started", "Playing", "Completed")]
    + [_event(f"Video Ad {name}", _AD) for name in ("Started", "Playing", "Completed")]
    + [
        _event(
            "Video Quality Updated",
            "  bitrate: integer\n  framerate: number\n  startupTime: number\n"
            "  droppedFrames: integer\n",
        )
    ]
)


def _template(text: str, name: str) -> Callable[[], Plan]:
    def make() -> Plan:
        return replace(parse_compact(text, name=name), template=True)

    make.__doc__ = f"The {name} spec as a plan."
    return make


ecommerce_v2 = _template(ECOMMERCE_V2, "Segment E-commerce v2")
b2b_saas = _template(B2B_SAAS, "Segment B2B SaaS")
video = _template(VIDEO, "Segment Video")

TEMPLATES: dict[str, Callable[[], Plan]] = {
    "ecommerce": ecommerce_v2,
    "ecommerce-v2": ecommerce_v2,
    "b2b-saas": b2b_saas,
    "video": video,
}
