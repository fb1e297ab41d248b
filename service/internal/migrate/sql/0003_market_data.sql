-- Market data: a gap-free sequence per order book, carried on every book
-- delta the sequencer publishes and kept here so it survives failover; and
-- an index for time-ranged trade reads (candles, 24h statistics).
ALTER TABLE markets ADD COLUMN book_sequence BIGINT NOT NULL DEFAULT 0;
CREATE INDEX trades_market_time_idx ON trades (market, created_at);
