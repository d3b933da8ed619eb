-- Queries on campaigns: /v1/campaigns (scope admin), and what claims need. The work is done by the functions of
-- sql/migrations/0011_campaigns.sql, which the CLI and the psql scripts in sql/admin/ call as well.

-- name: campaign_list :many
-- An account's campaigns as the API shows them, in creation order.
SELECT l2i_campaign_document(k) AS campaign
FROM campaigns AS k
WHERE k.account_id = %(account_id)s
ORDER BY k.created_at, k.id;

-- name: campaign_get :one
-- One campaign of an account, by code, name or id.
SELECT l2i_campaign_document(k) AS campaign
FROM campaigns AS k
WHERE k.account_id = %(account_id)s
  AND (k.code = upper(btrim(%(campaign)s::text)) OR lower(k.name) = lower(btrim(%(campaign)s::text))
       OR k.id::text = lower(btrim(%(campaign)s::text)))
ORDER BY k.code = upper(btrim(%(campaign)s::text)) DESC
LIMIT 1;

-- name: campaign_create :one
-- Creates a campaign from the API's settings (validated by l2i.campaigns); returns it.
SELECT l2i_campaign_document(k) AS campaign
FROM l2i_campaign_create(%(account_id)s, %(settings)s::jsonb) AS k;

-- name: campaign_update :one
-- Changes the settings present in settings; no row: no such campaign in the account.
SELECT l2i_campaign_document(k) AS campaign
FROM l2i_campaign_update(%(account_id)s, %(campaign)s::text, %(settings)s::jsonb) AS k;

-- name: campaign_ids :many
-- The ids of the campaigns a claim names (code, name or id), in the order named; id NULL: no such campaign.
SELECT w.name, k.id
FROM unnest(%(names)s::text[]) WITH ORDINALITY AS w(name, n)
LEFT JOIN LATERAL (
    SELECT c.id FROM campaigns AS c
    WHERE c.account_id = %(account_id)s
      AND (c.code = upper(btrim(w.name)) OR lower(c.name) = lower(btrim(w.name)) OR c.id::text = lower(btrim(w.name)))
    ORDER BY c.code = upper(btrim(w.name)) DESC
    LIMIT 1
) AS k ON true
ORDER BY w.n;

-- name: campaign_release :one
-- Releases the account's leads held over a campaign's daily cap as far as today's caps allow (l2i_campaign_release).
SELECT l2i_campaign_release(%(account_id)s::uuid, %(now)s::timestamptz) AS released;

-- name: key_default_campaign :one
-- A key's default campaign (an import job runs after its request, with the key's id only).
SELECT default_campaign_id FROM api_keys WHERE id = %(api_key_id)s AND account_id = %(account_id)s;
