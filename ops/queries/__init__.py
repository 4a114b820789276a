"""The application's access patterns, each the one correct, index-backed, RLS-aware way.

Every function takes a connection and the acting user and runs one transaction as that
user under RLS: application calls as `authenticated` with the user's id in the claims,
system jobs (the plan cache writer) as `service_role`. On an autocommit connection
(e.g. `ops.db.connect(url)`) the role, the claims and the statements go as one pipeline,
one round trip; on a pooled one (`connect(url, pooled=True)`, nothing prepared) as one
simple-protocol string that calls each statement's function (migration 0019), whose plan
the server caches; `with bind(conn, user_id):` sets the role and claims once for a whole
request, and each call then costs what the bare statement costs. Inside a transaction
the caller opened, the call joins it and puts the caller's role back afterwards.
Results are frozen dataclasses; bad input raises InvalidInput (exit 2) before anything is
sent, a missing or invisible row NotFound, a lost race StaleState (both exit 4).
"""

from ops.queries._base import InvalidInput, InvalidTransition, NotFound, StaleState, bind, bind_system
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
    "bind",
    "bind_system",
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
