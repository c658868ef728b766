-- The Citus pool tests' shared tables: users, which tenant tables reference (a reference table
-- on Citus), plans, which users reference (a reference table too, so that users can be one),
-- and audit, which nothing references (stays a local table on the coordinator).
CREATE TABLE plans (
    id   bigint PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE users (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email   text NOT NULL UNIQUE,
    plan_id bigint REFERENCES plans (id)
);
CREATE TABLE audit (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    what text NOT NULL
);
