-- The heatmap's rollup: fixes per organization, hour and H3 cell (resolution 9,
-- or the fixes' own when coarser), so a heatmap over a day reads a day of
-- cells, not a month of positions. Filled by a materialized view on every
-- insert into positions (an exact replay of a batch is dropped by its
-- deduplication token before it gets here); rows of older positions are added
-- once, below. A fix without a valid cell is left out (it cannot fail an insert).
CREATE TABLE IF NOT EXISTS positions_h3_hourly (
  org_id     UUID,
  hour       DateTime('UTC'),
  cell       UInt64,
  fixes      SimpleAggregateFunction(sum, UInt64),
  vehicles   AggregateFunction(uniq, UUID),
  speed_sum  SimpleAggregateFunction(sum, Float64),
  speed_n    SimpleAggregateFunction(sum, UInt64),
  -- A fix of the cell: where the heatmap's box test places it (the cell is ~0.1 km²).
  lat        SimpleAggregateFunction(any, Float64),
  lon        SimpleAggregateFunction(any, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (org_id, hour, cell);

CREATE MATERIALIZED VIEW IF NOT EXISTS positions_h3_hourly_mv TO positions_h3_hourly AS
SELECT org_id, toStartOfHour(ts) AS hour, if(h3GetResolution(h3) > 9, h3ToParent(h3, 9), h3) AS cell,
       count() AS fixes, uniqState(vehicle_id) AS vehicles, sum(ifNull(speed, 0)) AS speed_sum, count(speed) AS speed_n,
       any(lat) AS lat, any(lon) AS lon
  FROM positions
 WHERE h3IsValid(h3)
 GROUP BY org_id, hour, cell;

INSERT INTO positions_h3_hourly
SELECT org_id, toStartOfHour(ts) AS hour, if(h3GetResolution(h3) > 9, h3ToParent(h3, 9), h3) AS cell,
       count() AS fixes, uniqState(vehicle_id) AS vehicles, sum(ifNull(speed, 0)) AS speed_sum, count(speed) AS speed_n,
       any(lat) AS lat, any(lon) AS lon
  FROM positions FINAL
 WHERE h3IsValid(h3)
 GROUP BY org_id, hour, cell;
