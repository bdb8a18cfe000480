"""One repository per aggregate; use them through :class:`bot.storage.store.Store`."""

from bot.storage.repo.checklist import ChecklistRepo, validate_evidence_url
from bot.storage.repo.members import MembersRepo
from bot.storage.repo.privacy import PrivacyRepo
from bot.storage.repo.questions import QuestionsRepo, normalize_question
from bot.storage.repo.quiz import QuizRepo
from bot.storage.repo.reminders import RemindersRepo
from bot.storage.repo.stats import StatsRepo

__all__ = [
    "ChecklistRepo",
    "MembersRepo",
    "PrivacyRepo",
    "QuestionsRepo",
    "QuizRepo",
    "RemindersRepo",
    "StatsRepo",
    "normalize_question",
    "validate_evidence_url",
]
