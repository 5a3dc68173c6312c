-- Recursive merge of nested JSON objects: keys of `b` win, nested objects are merged, not replaced.
CREATE OR REPLACE FUNCTION assay_jsonb_deep_merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN jsonb_typeof(a) = 'object' AND jsonb_typeof(b) = 'object' THEN (
      SELECT coalesce(jsonb_object_agg(
        coalesce(ka, kb),
        CASE
          WHEN va IS NULL THEN vb
          WHEN vb IS NULL THEN va
          ELSE assay_jsonb_deep_merge(va, vb)
        END), '{}'::jsonb)
      FROM jsonb_each(a) AS ta(ka, va)
      FULL JOIN jsonb_each(b) AS tb(kb, vb) ON ka = kb
    )
    ELSE b
  END
$$;
