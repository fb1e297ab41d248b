-- The indexes every order pays for as it is written, kept to what is read.
--
-- With one order per WebSocket command, index insertion was 40 % of the
-- CPU of the backend that writes the sequencer's batches (perf; see
-- "Round seven" in docs/performance.md). Rebuilding indexes takes a write
-- lock on their tables for the build: on a large database, run this in a
-- maintenance window.

-- Every order writes 4.2 journal legs, and every leg went into an index
-- that no query reads: the legs are read whole (check-ledger, the
-- proof-of-liabilities checks), never by account. A trader's history is
-- orders, fills and transfers. Measured: 3.5 → 2.2 µs of statement time
-- per leg under load.
DROP INDEX journal_legs_account_idx;

-- Newest-first reads scan an ascending B-tree backwards as cheaply as a
-- descending one. Written in ascending id order, an ascending index
-- grows at the right end of each key (PostgreSQL splits such pages to
-- leave them full, and appends to the rightmost leaf without a descent);
-- a descending one inserts at the left end of each key, splitting pages
-- in half. Measured on 300,000 trades: 37 MB of indexes against 59 MB.
DROP INDEX orders_user_idx;
CREATE INDEX orders_user_idx ON orders (user_id, id);
DROP INDEX trades_market_idx;
CREATE INDEX trades_market_idx ON trades (market, id);
DROP INDEX trades_maker_user_idx;
CREATE INDEX trades_maker_user_idx ON trades (maker_user_id, id);
DROP INDEX trades_taker_user_idx;
CREATE INDEX trades_taker_user_idx ON trades (taker_user_id, id);

-- Trades are appended in time order (one writer numbers them and stamps
-- each batch), so a block range index on created_at finds a time window
-- from a few pages of summary, and costs an insert almost nothing. The
-- 24-hour statistics read every market's last day, which the
-- (market, created_at) B-tree could not serve without a market; candles
-- read one market's window and filter the few markets on those pages.
DROP INDEX trades_market_time_idx;
CREATE INDEX trades_time_brin ON trades USING brin (created_at);
