--
-- PostgreSQL database dump (baseline of the billing schema, pg_dump --schema-only)
--

-- Dumped from database version 15.6
-- Dumped by pg_dump version 15.6

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;

-- want: tamper — pg_dump writes it; the driver refuses every SET of client_encoding (README "Tamper resistance"), by design
SET client_encoding = 'UTF8';

-- want: tamper — pg_dump writes it; refused whatever the value, by design
SET standard_conforming_strings = on;

-- want: unverifiable — pg_dump empties the search_path; the guard resolves names through it
SELECT pg_catalog.set_config('search_path', '', false);

SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: billing; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA IF NOT EXISTS billing;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: billing.tax_rates; Type: TABLE; Schema: billing; Owner: -
--

CREATE TABLE billing.tax_rates (
    country text NOT NULL,
    rate numeric(5,4) NOT NULL,
    valid_from date NOT NULL
);

ALTER TABLE ONLY billing.tax_rates
    ADD CONSTRAINT tax_rates_pkey PRIMARY KEY (country, valid_from);

ALTER TABLE ONLY billing.tax_rates
    ADD CONSTRAINT tax_rates_country_fkey FOREIGN KEY (country) REFERENCES public.countries(code);

COMMENT ON TABLE billing.tax_rates IS 'VAT rates by country (global)';

CREATE INDEX tax_rates_valid_from_idx ON billing.tax_rates USING btree (valid_from);

--
-- Name: invoice_notes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.invoice_notes (
    tenant_id text DEFAULT current_setting('app.tenant_id'::text) NOT NULL,
    invoice_id bigint NOT NULL,
    note_no integer NOT NULL,
    body text NOT NULL,
    CONSTRAINT invoice_notes_body_check CHECK ((length(body) > 0))
);

ALTER TABLE ONLY public.invoice_notes
    ADD CONSTRAINT invoice_notes_pkey PRIMARY KEY (tenant_id, invoice_id, note_no);

ALTER TABLE ONLY public.invoice_notes
    ADD CONSTRAINT invoice_notes_invoice_fkey FOREIGN KEY (tenant_id, invoice_id) REFERENCES public.invoices(tenant_id, id) ON DELETE CASCADE;

ALTER TABLE public.invoice_notes ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON public.invoice_notes USING ((tenant_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif")));

--
-- Data for Name: tax_rates; Type: TABLE DATA; Schema: billing; Owner: -
--

INSERT INTO public.countries VALUES ('AT', 'Austria') ON CONFLICT DO NOTHING;
INSERT INTO billing.tax_rates VALUES ('AT', 0.2000, '2016-01-01');

SELECT pg_catalog.setval('public.events_id_seq', 1, false);

--
-- PostgreSQL database dump complete
--
