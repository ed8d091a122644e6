-- What a vehicle can carry, for dispatch: an order is assigned only within it (unknown = not checked).
ALTER TABLE vehicles ADD COLUMN max_weight_kg numeric CHECK (max_weight_kg > 0 AND max_weight_kg <= 1000000);
ALTER TABLE vehicles ADD COLUMN max_volume_m3 numeric CHECK (max_volume_m3 > 0 AND max_volume_m3 <= 10000);
