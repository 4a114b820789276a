-- Core schema of the seed's 001: users, study sessions, topics, misconceptions.
-- pgvector is required (semantic search later); the embedded server ships it.

create extension if not exists vector;

create table users (
    id uuid primary key default gen_random_uuid(),
    email text unique not null,
    created_at timestamp with time zone default now()
);

create table study_sessions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid references users (id) on delete cascade,
    exam_type text not null,
    current_state text not null default 'INTAKE',
    created_at timestamp with time zone default now(),
    updated_at timestamp with time zone default now(),
    metadata jsonb
);

create table topics (
    id uuid primary key default gen_random_uuid(),
    session_id uuid references study_sessions (id) on delete cascade,
    name text not null,
    status text default 'pending',
    -- dbops: ignore prefer-bigint-over-int a score between 0 and 100, not an id: int is ample
    mastery_score int default 0
);

create table misconceptions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid references users (id) on delete cascade,
    topic_id uuid references topics (id) on delete cascade,
    description text,
    detected_at timestamp with time zone default now()
);

create index idx_study_sessions_user_id on study_sessions (user_id);
create index idx_topics_session_id on topics (session_id);
create index idx_misconceptions_user_id on misconceptions (user_id);
