-- Runs once, on an empty data volume. Tables are created by the CX Pulse
-- migrations (warehouse/migrate.py), not here.
CREATE DATABASE IF NOT EXISTS cxpulse;
