-- A synthetic COVID-19 registry shaped like the OMOP common data model
-- (person, visit_occurrence, condition_occurrence, measurement), for one
-- hospital of the scor demo.  Deterministic: every draw is a hash of the
-- hospital's letter, a tag and an id, never random().  Set-based: one
-- INSERT ... SELECT per table.
--
-- psql variables (demo/demo.sh sets them per hospital):
--   site       hospital letter, part of every hash          'A'
--   persons    number of patients                           20000
--   id_base    first person_id (ids never collide between   1000000
--              hospitals, as in real registries)
--   p_child    share of patients under 18                   0.10
--   p_old      share of patients 65 and over                0.30
--   covid      COVID-19 prevalence among adults             0.12
--   comorb     multiplier of the comorbidity prevalences    1.0
--   mean_los   mean length of a COVID-19 stay, in days      7
--   readmit    base chance of a readmission within 30 days  0.10
--   wave1      share of cases in the spring 2020 wave       0.45
--
-- Concepts (OMOP standard concept ids):
--   conditions   37311061 COVID-19, 201826 type 2 diabetes mellitus,
--                320128 essential hypertension, 255573 chronic obstructive
--                lung disease, 46271022 chronic kidney disease,
--                316139 heart failure, 433736 obesity
--   visits       9201 inpatient, 9202 outpatient, 9203 emergency room
--   measurement  3020460 C reactive protein [Mass/volume] in serum or plasma,
--                unit 8751 mg/L
--   gender       8507 male, 8532 female
--   type         32817 EHR
\set ON_ERROR_STOP on
SET client_min_messages = warning;

DROP TABLE IF EXISTS measurement, condition_occurrence, visit_occurrence, person;

CREATE TABLE person (
	person_id bigint PRIMARY KEY,
	gender_concept_id integer NOT NULL,
	year_of_birth integer NOT NULL,
	month_of_birth integer,
	day_of_birth integer,
	birth_datetime timestamp,
	race_concept_id integer NOT NULL DEFAULT 0,
	ethnicity_concept_id integer NOT NULL DEFAULT 0,
	person_source_value text
);
CREATE TABLE visit_occurrence (
	visit_occurrence_id bigint PRIMARY KEY,
	person_id bigint NOT NULL,
	visit_concept_id integer NOT NULL,
	visit_start_date date NOT NULL,
	visit_end_date date NOT NULL,
	visit_type_concept_id integer NOT NULL DEFAULT 32817,
	preceding_visit_occurrence_id bigint
);
CREATE TABLE condition_occurrence (
	condition_occurrence_id bigint PRIMARY KEY,
	person_id bigint NOT NULL,
	condition_concept_id integer NOT NULL,
	condition_start_date date NOT NULL,
	condition_end_date date,
	condition_type_concept_id integer NOT NULL DEFAULT 32817,
	visit_occurrence_id bigint
);
CREATE TABLE measurement (
	measurement_id bigint PRIMARY KEY,
	person_id bigint NOT NULL,
	measurement_concept_id integer NOT NULL,
	measurement_date date NOT NULL,
	value_as_number numeric(6,1),
	unit_concept_id integer,
	measurement_type_concept_id integer NOT NULL DEFAULT 32817,
	visit_occurrence_id bigint
);

-- A uniform draw in [0, 1) from the hospital, a tag and an id
CREATE FUNCTION pg_temp.u(site text, tag text, id bigint) RETURNS float8
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT ('x' || substr(md5(site || ':' || tag || ':' || id), 1, 13))::bit(52)::bigint / 4503599627370496.0::float8 $$;

-- Every patient's story, drawn once
CREATE TEMP TABLE story AS
WITH base AS MATERIALIZED (
	SELECT :id_base + i AS pid,
		   pg_temp.u(:'site', 'band', :id_base + i) AS u_band,
		   pg_temp.u(:'site', 'age', :id_base + i) AS u_age
	FROM generate_series(1, :persons) i
), aged AS MATERIALIZED (
	SELECT pid,
		   CASE WHEN u_band < :p_child THEN floor(u_age * 18)
				WHEN u_band < :p_child + :p_old THEN 65 + floor(power(u_age, 1.8) * 35)
				ELSE 18 + floor(u_age * 47) END::int AS age
	FROM base
), risk AS MATERIALIZED (
	SELECT pid, age,
		   CASE WHEN age < 18 THEN 0.05 WHEN age < 45 THEN 0.4 WHEN age < 65 THEN 1.0 ELSE 1.8 END * :comorb AS f
	FROM aged
), sick AS MATERIALIZED (
	SELECT pid, age,
		   date '2020-01-01' - make_interval(years => age, days => floor(pg_temp.u(:'site', 'dob', pid) * 365)::int) AS birth,
		   pg_temp.u(:'site', 'sex', pid) < 0.49 AS male,
		   pg_temp.u(:'site', 'dm', pid) < 0.09 * f AS dm,
		   pg_temp.u(:'site', 'htn', pid) < 0.16 * f AS htn,
		   pg_temp.u(:'site', 'copd', pid) < 0.04 * f AS copd,
		   pg_temp.u(:'site', 'ckd', pid) < 0.05 * f AS ckd,
		   pg_temp.u(:'site', 'hf', pid) < 0.03 * f AS hf,
		   pg_temp.u(:'site', 'obese', pid) < 0.08 + 0.04 * f AS obese
	FROM risk
), infected AS MATERIALIZED (
	SELECT s.*,
		   dm::int + htn::int + copd::int + ckd::int + hf::int + obese::int AS ncomorb,
		   pg_temp.u(:'site', 'covid', pid) < :covid * CASE WHEN age < 18 THEN 0.4 ELSE 1.0 END AS covid,
		   -- two waves, spring 2020 and autumn-winter 2020-21 (triangular in
		   -- each), over a low level of cases all year round
		   CASE WHEN pg_temp.u(:'site', 'wave', pid) < 0.08
				THEN date '2020-03-01' + floor(pg_temp.u(:'site', 'd1', pid) * 365)::int
				WHEN pg_temp.u(:'site', 'wave', pid) < 0.08 + 0.92 * :wave1
				THEN date '2020-03-01' + floor((pg_temp.u(:'site', 'd1', pid) + pg_temp.u(:'site', 'd2', pid)) * 45)::int
				ELSE date '2020-09-15' + floor((pg_temp.u(:'site', 'd1', pid) + pg_temp.u(:'site', 'd2', pid)) * 82)::int
		   END AS dx_date
	FROM sick s
)
SELECT i.*,
	   covid AND pg_temp.u(:'site', 'hosp', pid) < least(0.9, 0.02 + 0.007 * age + 0.07 * ncomorb) AS hospitalised,
	   -- admission on the day of diagnosis or up to two days later
	   dx_date + floor(pg_temp.u(:'site', 'adm', pid) * 3)::int AS adm_date,
	   least(60, 1 + floor(-ln(1 - pg_temp.u(:'site', 'los', pid)) * :mean_los * (0.6 + age / 100.0)))::int AS los,
	   pg_temp.u(:'site', 'readm', pid) < :readmit * (1 + 0.3 * ncomorb) AS readmitted,
	   1 + floor(pg_temp.u(:'site', 'gap', pid) * 30)::int AS readm_gap,
	   pg_temp.u(:'site', 'late', pid) < 0.06 AS late_readmission,
	   round((5 + 160 * power(pg_temp.u(:'site', 'crp', pid), 1.6) * (0.5 + age / 80.0))::numeric, 1) AS crp,
	   -- a stay for another reason, at any time of the year
	   pg_temp.u(:'site', 'bg', pid) < 0.02 + 0.03 * ncomorb AS other_stay,
	   date '2020-03-01' + floor(pg_temp.u(:'site', 'bgd', pid) * 360)::int AS other_date,
	   1 + floor(pg_temp.u(:'site', 'bgl', pid) * 6)::int AS other_los,
	   1 + floor(pg_temp.u(:'site', 'opv', pid) * 3)::int AS outpatient_visits
FROM infected i;

INSERT INTO person
SELECT pid, CASE WHEN male THEN 8507 ELSE 8532 END,
	   extract(year FROM birth)::int, extract(month FROM birth)::int, extract(day FROM birth)::int,
	   birth, 0, 0, :'site' || '-' || lpad((pid - :id_base)::text, 6, '0')
FROM story;

-- Visit ids: person_id * 10 + slot, so that every visit id is known up front
--   slot 1 COVID-19 visit (inpatient if hospitalised, else outpatient)
--   slot 2 readmission after the COVID-19 stay (within 30 days, or late)
--   slot 3 inpatient stay for another reason
--   slot 4..6 routine outpatient visits
INSERT INTO visit_occurrence
SELECT pid * 10 + 1, pid,
	   CASE WHEN hospitalised THEN 9201 ELSE 9202 END,
	   CASE WHEN hospitalised THEN adm_date ELSE dx_date END,
	   CASE WHEN hospitalised THEN adm_date + los ELSE dx_date END,
	   32817, NULL
FROM story WHERE covid
UNION ALL
SELECT pid * 10 + 2, pid, 9201,
	   adm_date + los + CASE WHEN readmitted THEN readm_gap ELSE 30 + readm_gap * 3 END,
	   adm_date + los + CASE WHEN readmitted THEN readm_gap ELSE 30 + readm_gap * 3 END + 1 + los / 3,
	   32817, pid * 10 + 1
FROM story WHERE hospitalised AND (readmitted OR late_readmission)
UNION ALL
SELECT pid * 10 + 3, pid, 9201, other_date, other_date + other_los, 32817, NULL
FROM story WHERE other_stay
UNION ALL
SELECT pid * 10 + 3 + k, pid, CASE WHEN k = 3 THEN 9203 ELSE 9202 END,
	   date '2019-06-01' + floor(pg_temp.u(:'site', 'opd' || k, pid) * 600)::int,
	   date '2019-06-01' + floor(pg_temp.u(:'site', 'opd' || k, pid) * 600)::int,
	   32817, NULL
FROM story, generate_series(1, 3) k WHERE k <= outpatient_visits;

-- Conditions: chronic ones recorded once before 2020, COVID-19 at its visit
INSERT INTO condition_occurrence
SELECT pid * 10 + k, pid, concept,
	   date '2015-01-01' + floor(pg_temp.u(:'site', 'onset' || k, pid) * 1800)::int,
	   NULL, 32817, NULL
FROM story,
	 LATERAL (VALUES (1, 201826, dm), (2, 320128, htn), (3, 255573, copd),
					 (4, 46271022, ckd), (5, 316139, hf), (6, 433736, obese)) c(k, concept, present)
WHERE present
UNION ALL
SELECT pid * 10 + 7, pid, 37311061, CASE WHEN hospitalised THEN adm_date ELSE dx_date END,
	   CASE WHEN hospitalised THEN adm_date + los ELSE dx_date + 14 END, 32817, pid * 10 + 1
FROM story WHERE covid;

-- C-reactive protein: at admission for every COVID-19 stay, on day 3 of
-- the longer ones, and for half of the outpatient cases
INSERT INTO measurement
SELECT pid * 10 + 1, pid, 3020460, adm_date, crp, 8751, 32817, pid * 10 + 1
FROM story WHERE hospitalised
UNION ALL
SELECT pid * 10 + 2, pid, 3020460, adm_date + 3,
	   round(crp * (0.4 + pg_temp.u(:'site', 'crp3', pid))::numeric, 1), 8751, 32817, pid * 10 + 1
FROM story WHERE hospitalised AND los > 3
UNION ALL
SELECT pid * 10 + 3, pid, 3020460, dx_date, round(crp / 3, 1), 8751, 32817, pid * 10 + 1
FROM story WHERE covid AND NOT hospitalised AND pg_temp.u(:'site', 'crpo', pid) < 0.5;

CREATE INDEX ON visit_occurrence (person_id);
CREATE INDEX ON condition_occurrence (person_id);
CREATE INDEX ON condition_occurrence (condition_concept_id);
CREATE INDEX ON measurement (person_id);
CREATE INDEX ON measurement (visit_occurrence_id);
ANALYZE person, visit_occurrence, condition_occurrence, measurement;

SELECT :'site' AS hospital,
	   (SELECT count(*) FROM person) AS persons,
	   (SELECT count(*) FROM visit_occurrence) AS visits,
	   (SELECT count(*) FROM condition_occurrence) AS conditions,
	   (SELECT count(*) FROM measurement) AS measurements,
	   (SELECT count(*) FROM condition_occurrence WHERE condition_concept_id = 37311061) AS covid_cases;
