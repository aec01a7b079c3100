"""Demo data for `flask seed-demo`: a Legends game for a demo seller with members in every
class, XP from referrals and commissions (so the leaderboards are populated), an unlocked
achievement or two, quests, and a guild. Idempotent: the XP source keys, the member rows and
the guild name are unique, so a second run adds nothing."""

from collections.abc import Callable, Sequence

from sqlalchemy import select

from app.extensions import db
from app.models import Company, LegendsGuild, User
from app.services.legends.engine import Earning, award_xp
from app.services.legends.game import classes_of, join_game, membership, open_game
from app.services.legends.guilds import create_guild, join_guild

DEMO_PLAYERS = 12
DEMO_GUILD = "Night Owls"


def seed_demo_game(
    company: Company, buyers: Sequence[User], make_user: Callable[[str, str], User], base_url: str
) -> list[tuple[str, str]]:
    """Open the company's game and fill it; returns the ("legends", URL) line to print."""
    game = open_game(company, f"{company.title} Legends")
    classes = classes_of(company.id)
    players = list(buyers) + [
        make_user(f"player{n}@tradepost.test", f"Player {n}") for n in range(1, DEMO_PLAYERS - len(buyers) + 1)
    ]
    members = []
    for index, user in enumerate(players):
        member = membership(company, user) or join_game(company, user, str(classes[index % len(classes)].id))
        members.append(member)
        for referral in range(index % 5 + 1):
            award_xp(member, f"demo:referral:{index}:{referral}", Earning("referral", 100, referrals=1))
        if index % 2 == 0:
            cents = 2_500 * (index + 1)
            award_xp(member, f"demo:commission:{index}", Earning("commission", cents // 100, commission_cents=cents))
    if db.session.scalar(select(LegendsGuild.id).where(LegendsGuild.company_id == company.id)) is None:
        guild = create_guild(members[0], game, {"name": DEMO_GUILD, "open": "1"})
        for member in members[1:4]:
            join_guild(member, guild.id)
    db.session.flush()
    return [("legends", f"{base_url}/legends/{company.slug}")]
