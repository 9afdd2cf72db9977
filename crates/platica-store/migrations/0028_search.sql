-- Search (issue 19): prospects by any word of the name, whatever the accents and case, or by
-- phone in local or international form; and messages by their words (full text).
--
-- The live inbox engine answers the inbox's search from memory (platica_domain::search); the
-- functions here are the same rules in SQL, for the reference inbox that `verify` compares the
-- engine with, and for the prospect list. The three contrib modules come with the server
-- package and are trusted (a database owner may create them).

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- lower(unaccent(t)): `unaccent` is only STABLE (its dictionary could change); naming the
-- dictionary makes the result fixed, so this wrapper may be IMMUTABLE and indexed. The body is
-- parsed now (SQL-standard form), so the dictionary and function resolve whatever the
-- search_path later is.
CREATE FUNCTION platica_fold(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(unaccent('unaccent'::regdictionary, t));

-- A name's folded words, each after a space: ' maria romero lopez'. "Some word starts with w"
-- is `LIKE '% w%'` (a word holds no separator, so no LIKE wildcard). Words are separated by
-- every ASCII character that is not a letter or a digit (platica_domain::search::is_separator).
CREATE FUNCTION platica_name_key(name text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ' ' || regexp_replace(platica_fold(name), '[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+', ' ', 'g');

-- The national number of a phone's digits: after the country code (1 and 7 are one digit, the
-- two-digit codes listed, every other three), less Mexico's mobile 1 and Argentina's mobile 9
-- before ten digits (platica_domain::search::national). NULL when nothing is left.
CREATE FUNCTION platica_phone_national(digits text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN nullif(CASE
        -- Mexico (52) and Argentina (54) with the mobile 1 / 9 before ten digits.
        WHEN left(digits, 3) IN ('521', '549') AND length(digits) = 13 THEN substr(digits, 4)
        WHEN left(digits, 1) IN ('1', '7') THEN substr(digits, 2)
        WHEN left(digits, 2) = ANY (ARRAY['20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43',
            '44', '45', '46', '47', '48', '49', '51', '52', '53', '54', '55', '56', '57', '58', '60', '61', '62', '63',
            '64', '65', '66', '81', '82', '84', '86', '90', '91', '92', '93', '94', '95', '98']) THEN substr(digits, 3)
        ELSE substr(digits, 4) END, '');

-- A phone's keys, each after a space: ' 5215512345678 5512345678' (digits, national number).
-- "Some key starts with d" is `LIKE '% d%'`. NULL for a phone without digits. Both functions
-- are single expressions, so the planner inlines them (no function call per row).
CREATE FUNCTION platica_phone_key(phone text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ' ' || nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '')
        || coalesce(' ' || platica_phone_national(regexp_replace(phone, '[^0-9]', '', 'g')), '');

-- Trigram indexes answer `LIKE '% w%'` on the keys (the prospect list, the SQL inbox).
CREATE INDEX prospects_name_search ON prospects USING gin (tenant_id, platica_name_key(name) gin_trgm_ops);
CREATE INDEX prospects_phone_search ON prospects USING gin (tenant_id, platica_phone_key(phone) gin_trgm_ops);

-- Message text: Spanish and English, accents removed before stemming ("envíos" and "envio" are
-- both 'envi'). One text is indexed under both configurations (its Spanish lexemes, then its
-- English ones) and a query matches when it matches in either language: sales teams write
-- Spanish, and English product words and customers are common.
CREATE TEXT SEARCH CONFIGURATION platica_es (COPY = pg_catalog.spanish);
ALTER TEXT SEARCH CONFIGURATION platica_es
    ALTER MAPPING FOR word, hword, hword_part, asciiword, asciihword, hword_asciipart WITH unaccent, spanish_stem;
CREATE TEXT SEARCH CONFIGURATION platica_en (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION platica_en
    ALTER MAPPING FOR word, hword, hword_part, asciiword, asciihword, hword_asciipart WITH unaccent, english_stem;

CREATE FUNCTION platica_message_tsv(body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN to_tsvector('platica_es'::regconfig, body) || to_tsvector('platica_en'::regconfig, body);

CREATE FUNCTION platica_message_query(q text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN websearch_to_tsquery('platica_es'::regconfig, q) || websearch_to_tsquery('platica_en'::regconfig, q);

-- Stored, so that ranking a match reads its vector instead of parsing and stemming the text
-- twice again (at 100,000 messages ranking the recomputed vectors of a frequent word's matches
-- took hundreds of milliseconds). A generated column is not in the logical replication stream
-- (PostgreSQL 15's pgoutput leaves generated columns out), so neither the live inbox nor realtime
-- frames carry it.
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (platica_message_tsv(body)) STORED;
CREATE INDEX messages_search ON messages USING gin (tenant_id, search);
