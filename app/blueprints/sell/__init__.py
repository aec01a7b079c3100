"""Everything under /sell, one module a subject. `bp` is the `sell` blueprint (home.py: the
seller's home and onboarding); each other module's blueprint is registered under it, so its
pages live at /sell/<its prefix> and its endpoints are named `sell.<module>.<view>`:

home.py             /sell, /sell/become, /sell/onboarding...     sell.home, sell.become, ...
gigs.py             /sell/gigs...                                sell.gigs.*
images.py           /sell/images/<key>                           sell.images.show
products.py         /sell/products...                            sell.products.*
member_content.py   /sell/products/<id>/content...               sell.member_content.*
orders.py           /sell/orders                                 sell.orders.index
licenses.py         /sell/licenses...                            sell.licenses.*
payouts.py          /sell/payouts...                             sell.payouts.*
webhooks.py         /sell/webhooks...                            sell.webhooks.*
developers.py       /sell/developers...                          sell.developers.*
whop.py             /sell/whop...                                sell.whop.*
legends.py          /sell/legends...                             sell.legends.*
apps.py             /sell/developers/apps...                     sell.developer_apps.*
team.py             /sell/team...                                sell.team.*
settings.py         /sell/settings                               sell.settings.*
affiliates.py       /sell/affiliates...                          sell.affiliates.*
"""

from app.blueprints.sell import (
    affiliates,
    apps,
    developers,
    gigs,
    images,
    legends,
    licenses,
    member_content,
    orders,
    payouts,
    products,
    settings,
    team,
    webhooks,
    whop,
)
from app.blueprints.sell.home import bp

for _module in (
    gigs,
    images,
    products,
    member_content,
    orders,
    licenses,
    payouts,
    webhooks,
    developers,
    apps,
    whop,
    legends,
    team,
    settings,
    affiliates,
):
    bp.register_blueprint(_module.bp)

__all__ = ["bp"]
