"""The application's access patterns, each the one correct, index-backed, RLS-aware way.

Every function takes an autocommit connection (e.g. `ops.db.connect(url)`) and runs one
transaction through `ops.rls.acting_as`: application calls as `authenticated` with the
acting user's id in the claims, system jobs (the plan cache writer) as `service_role`.
Results are frozen dataclasses; bad input raises InvalidInput (exit 2) before anything is
sent, a missing or invisible row NotFound, a lost race StaleState (both exit 4).
"""

from ops.queries._base import InvalidInput, InvalidTransition, NotFound, StaleState
from ops.queries.content import (
    CachedPlan,
    Chat,
    Misconception,
    Quiz,
    append_chat_messages,
    get_cached_plan,
    get_chat,
    latest_quiz,
    put_cached_plan,
    recent_misconceptions,
    record_misconceptions,
    save_chat,
    save_quiz,
)
from ops.queries.sessions import (
    ACTIONS,
    PHASES,
    TRANSITIONS,
    SessionState,
    Topic,
    TopicProgress,
    add_topics,
    load_session,
    log_action,
    login,
    next_phase,
    progress,
    save_session,
    set_mastery,
    start_session,
)

__all__ = [
    "ACTIONS",
    "PHASES",
    "TRANSITIONS",
    "CachedPlan",
    "Chat",
    "InvalidInput",
    "InvalidTransition",
    "Misconception",
    "NotFound",
    "Quiz",
    "SessionState",
    "StaleState",
    "Topic",
    "TopicProgress",
    "add_topics",
    "append_chat_messages",
    "get_cached_plan",
    "get_chat",
    "latest_quiz",
    "load_session",
    "log_action",
    "login",
    "next_phase",
    "progress",
    "put_cached_plan",
    "recent_misconceptions",
    "record_misconceptions",
    "save_chat",
    "save_quiz",
    "save_session",
    "set_mastery",
    "start_session",
]
