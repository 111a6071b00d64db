"""Built-in plans for Segment's semantic specs, written in the compact notation.

The Segment Spec marks no property as required, so the templates choose: the id an
event is about (product_id, order_id, cart_id, ...) and, for orders, the money
that analytics destinations need (revenue/total and currency).
"""

from __future__ import annotations

from collections.abc import Callable

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
_WISHLIST = """\
  wishlist_id: string!
  wishlist_name: string
"""


def _event(name: str, *parts: str) -> str:
    return name + "\n" + "".join(parts)


ECOMMERCE_V2 = "\n".join(
    [
        _event("Products Searched", "  query: string!\n"),
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
        _event("Cart Viewed", "  cart_id: string!\n", _PRODUCTS),
        _event(
            "Checkout Started",
            "  order_id: string!\n  value: number\n",
            _ORDER_MONEY.replace("  total: number\n", ""),
            _PRODUCTS,
        ),
        _event("Checkout Step Viewed", _CHECKOUT_STEP),
        _event("Checkout Step Completed", _CHECKOUT_STEP),
        _event("Payment Info Entered", _CHECKOUT_STEP, "  order_id: string\n"),
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
        _event("Coupon Denied", _COUPON, "  reason: string\n"),
        _event("Coupon Removed", _COUPON, "  discount: number\n"),
        _event("Product Added to Wishlist", _WISHLIST, _PRODUCT),
        _event("Product Removed from Wishlist", _WISHLIST, _PRODUCT),
        _event("Wishlist Product Added to Cart", _WISHLIST, "  cart_id: string\n", _PRODUCT),
        _event(
            "Product Shared",
            "  share_via: string\n  share_message: string\n  recipient: string\n",
            _PRODUCT,
        ),
        _event(
            "Cart Shared",
            "  share_via: string\n  share_message: string\n  recipient: string\n"
            "  cart_id: string!\n",
            _PRODUCTS,
        ),
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


def ecommerce_v2() -> Plan:
    return parse_compact(ECOMMERCE_V2, name="Segment E-commerce v2")


def b2b_saas() -> Plan:
    return parse_compact(B2B_SAAS, name="Segment B2B SaaS")


TEMPLATES: dict[str, Callable[[], Plan]] = {
    "ecommerce": ecommerce_v2,
    "ecommerce-v2": ecommerce_v2,
    "b2b-saas": b2b_saas,
}
