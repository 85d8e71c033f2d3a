-- The scor.ciphertext type: text and binary I/O, operators, bad input
SET search_path = public, scor;

-- Known answers: ciphertexts built from RFC 9496 A.1 encodings of i·B
-- (key fingerprint 0000000000000000); text form is canonical, so it round trips
CREATE TABLE kat (i integer, c scor.ciphertext);
INSERT INTO kat VALUES
  (1, 'AQAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12lHQfXV1SdV7OTyPwRO4n1dHqHivRlrRiFmsWFSqdAlk'),
  (2, 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ9kdG08krEwUO2NgCNqfwAHw7P5YvW6eT0ZpgHrsd9AM'),
  (3, 'AQAAAAAAAAAAAJR0H11dUnVezk8j8ETuJ9XR6h4r0Za0YhZrFhUqnQJZAmIqzo9zA6Mcr8Y_j8SP3BbhyMjSNLLw1mhSgqkHYDE'),
  (4, 'AQAAAAAAAAAAANqAhidzNYtGb_rf4LMpOrPZ_VPF6myVU1j1aDItr2pX5FSe4WuaoDCZyiCMZ62vyvpMPz5OUwPeYCbjyo_4RGA'),
  (5, 'AQAAAAAAAAAAAOiCsTEBa1LB0zNwgBh892hCPvzLtRe7SVq4EsQWD_RO4MQY98jZxM3XOVuT6hJPOtmQIbtoHfwzAqnZmi5T5k4'),
  (6, 'AQAAAAAAAAAAAPZHRtPJKxMFDtjYAjan8AB8Oz-WL1unk9GaYB67HfQDakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk'),
  (7, 'AQAAAAAAAAAAAET1NSCSbsgfvVo4eEW-t9-FqWok7OGHOL3PpqeCKhdt6IKxMQFrUsHTM3CAGHz3aEI-_Mu1F7tJWrgSxBYP9E4'),
  (8, 'AQAAAAAAAAAAAJAyk9jyKH6-EOI3TcGlPgvIh-WSaZ8C0HfVJjzdVWAckDKT2PIofr4Q4jdNwaU-C8iH5ZJpnwLQd9UmPN1VYBw'),
  (9, 'AQAAAAAAAAAAAAJiKs6PcwOjHK_GP4_Ej9wW4cjI0jSy8NZoUoKpB2AxvOg_i6XdL6VyhkwkuhgQ-VIrxgBK_pWHescyQcr9q0I'),
  (10, 'AQAAAAAAAAAAACBwb9eIsnIKHtKl2tSVKwH0E7zw51ZN6M3IFmieLblfRjdrgPQJsp3CtfbwxSWRmQiW5XFvQUd80wCFq38QMB4'),
  (11, 'AQAAAAAAAAAAALzoP4ul3S-lcoZMJLoYEPlSK8YASv6Vh3rHMkHK_atC4vKuCmq8TnGohKlhxQBRX1jjC2qlgt2NtqZZReCNLXY'),
  (12, 'AQAAAAAAAAAAAORUnuFrmqAwmcogjGetr8r6TD8-TlMD3mAm48qP-ERg2oCGJ3M1i0Zv-t_gsyk6s9n9U8XqbJVTWPVoMi2valc'),
  (13, 'AQAAAAAAAAAAAKpS4ADfLhb1X7EDL8M7xCdC2ta9Wo_AvgFnQ2xZSFAfRPU1IJJuyB-9Wjh4Rb6334WpaiTs4Yc4vc-mp4IqF20'),
  (14, 'AQAAAAAAAAAAAEY3a4D0CbKdwrX28MUlkZkIluVxb0FHfNMAhat_EDAeIHBv14iycgoe0qXa1JUrAfQTvPDnVk3ozcgWaJ4tuV8'),
  (15, 'AQAAAAAAAAAAAODEGPfI2cTN1zlbk-oSTzrZkCG7aB38MwKp2ZouU-ZOqlLgAN8uFvVfsQMvwzvEJ0La1r1aj8C-AWdDbFlIUB8');
SELECT i, c::text = t AS round_trip, scor.key_fingerprint(c), scor.scale(c) FROM kat JOIN (VALUES
  (1, 'AQAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12lHQfXV1SdV7OTyPwRO4n1dHqHivRlrRiFmsWFSqdAlk'),
  (2, 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ9kdG08krEwUO2NgCNqfwAHw7P5YvW6eT0ZpgHrsd9AM'),
  (3, 'AQAAAAAAAAAAAJR0H11dUnVezk8j8ETuJ9XR6h4r0Za0YhZrFhUqnQJZAmIqzo9zA6Mcr8Y_j8SP3BbhyMjSNLLw1mhSgqkHYDE'),
  (4, 'AQAAAAAAAAAAANqAhidzNYtGb_rf4LMpOrPZ_VPF6myVU1j1aDItr2pX5FSe4WuaoDCZyiCMZ62vyvpMPz5OUwPeYCbjyo_4RGA'),
  (5, 'AQAAAAAAAAAAAOiCsTEBa1LB0zNwgBh892hCPvzLtRe7SVq4EsQWD_RO4MQY98jZxM3XOVuT6hJPOtmQIbtoHfwzAqnZmi5T5k4'),
  (6, 'AQAAAAAAAAAAAPZHRtPJKxMFDtjYAjan8AB8Oz-WL1unk9GaYB67HfQDakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk'),
  (7, 'AQAAAAAAAAAAAET1NSCSbsgfvVo4eEW-t9-FqWok7OGHOL3PpqeCKhdt6IKxMQFrUsHTM3CAGHz3aEI-_Mu1F7tJWrgSxBYP9E4'),
  (8, 'AQAAAAAAAAAAAJAyk9jyKH6-EOI3TcGlPgvIh-WSaZ8C0HfVJjzdVWAckDKT2PIofr4Q4jdNwaU-C8iH5ZJpnwLQd9UmPN1VYBw'),
  (9, 'AQAAAAAAAAAAAAJiKs6PcwOjHK_GP4_Ej9wW4cjI0jSy8NZoUoKpB2AxvOg_i6XdL6VyhkwkuhgQ-VIrxgBK_pWHescyQcr9q0I'),
  (10, 'AQAAAAAAAAAAACBwb9eIsnIKHtKl2tSVKwH0E7zw51ZN6M3IFmieLblfRjdrgPQJsp3CtfbwxSWRmQiW5XFvQUd80wCFq38QMB4'),
  (11, 'AQAAAAAAAAAAALzoP4ul3S-lcoZMJLoYEPlSK8YASv6Vh3rHMkHK_atC4vKuCmq8TnGohKlhxQBRX1jjC2qlgt2NtqZZReCNLXY'),
  (12, 'AQAAAAAAAAAAAORUnuFrmqAwmcogjGetr8r6TD8-TlMD3mAm48qP-ERg2oCGJ3M1i0Zv-t_gsyk6s9n9U8XqbJVTWPVoMi2valc'),
  (13, 'AQAAAAAAAAAAAKpS4ADfLhb1X7EDL8M7xCdC2ta9Wo_AvgFnQ2xZSFAfRPU1IJJuyB-9Wjh4Rb6334WpaiTs4Yc4vc-mp4IqF20'),
  (14, 'AQAAAAAAAAAAAEY3a4D0CbKdwrX28MUlkZkIluVxb0FHfNMAhat_EDAeIHBv14iycgoe0qXa1JUrAfQTvPDnVk3ozcgWaJ4tuV8'),
  (15, 'AQAAAAAAAAAAAODEGPfI2cTN1zlbk-oSTzrZkCG7aB38MwKp2ZouU-ZOqlLgAN8uFvVfsQMvwzvEJ0La1r1aj8C-AWdDbFlIUB8')) v(j, t) ON i = j ORDER BY i;
-- Homomorphic operators on known points: (2B,6B) + (3B,9B) = (5B,15B), etc.
SELECT a.c + b.c AS sum_2_3, 'AQAAAAAAAAAAAOiCsTEBa1LB0zNwgBh892hCPvzLtRe7SVq4EsQWD_RO4MQY98jZxM3XOVuT6hJPOtmQIbtoHfwzAqnZmi5T5k4' AS expected FROM kat a, kat b WHERE a.i = 2 AND b.i = 3;
SELECT b.c - a.c AS diff_3_2, 'AQAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12lHQfXV1SdV7OTyPwRO4n1dHqHivRlrRiFmsWFSqdAlk' AS expected FROM kat a, kat b WHERE a.i = 2 AND b.i = 3;
SELECT a.c - a.c AS zero, 'AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' AS expected FROM kat a WHERE a.i = 7;
SELECT (-(-a.c))::text = a.c::text AS double_negation FROM kat a WHERE a.i = 4;

-- Binary send/recv round trip (what drivers in binary mode use)
SELECT encode(scor.ciphertext_send(c), 'hex') FROM kat WHERE i = 1;
\getenv abs_builddir PG_ABS_BUILDDIR
\set ctfile :abs_builddir '/results/ciphertext.bin'
COPY kat TO :'ctfile' WITH (FORMAT binary);
CREATE TABLE kat2 (LIKE kat);
COPY kat2 FROM :'ctfile' WITH (FORMAT binary);
SELECT count(*) AS rows, bool_and(a.c::text = b.c::text) AS identical FROM kat a JOIN kat2 b USING (i);

-- Malformed text: 22P02 (the first also in full, with its detail)
SELECT ''::scor.ciphertext;
SELECT sqlstate_of($$SELECT ''::scor.ciphertext$$);
SELECT sqlstate_of($$SELECT 'x'::scor.ciphertext$$);
SELECT sqlstate_of($$SELECT 'not base64 at all!'::scor.ciphertext$$);
SELECT sqlstate_of($$SELECT 'AQAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuR'::scor.ciphertext$$);
SELECT sqlstate_of($$SELECT 'AQAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRkA'::scor.ciphertext$$);
SELECT sqlstate_of($$SELECT 'AQAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk=='::scor.ciphertext$$);
SELECT sqlstate_of($$SELECT '*QAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk'::scor.ciphertext$$);
-- non-canonical base64url: unused trailing bits set
SELECT sqlstate_of($$SELECT 'AQAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRl'::scor.ciphertext$$);

-- Wrong version, scale out of range: 22023
SELECT error_of($$SELECT 'AgAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk'::scor.ciphertext$$);
SELECT error_of($$SELECT 'AAAAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk'::scor.ciphertext$$);
SELECT error_of($$SELECT 'ARMAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk'::scor.ciphertext$$);

-- RFC 9496 A.2: every invalid encoding is refused, as C1 and as C2: 22023
CREATE TABLE bad_encodings (n integer, c1_text text, c2_text text);
INSERT INTO bad_encodings VALUES
  (1, 'AQAAAAAAAAAAAAD_________________________________________akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZAP________________________________________8'),
  (2, 'AQAAAAAAAAAAAP________________________________________9_akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ_________________________________________38'),
  (3, 'AQAAAAAAAAAAAPP_______________________________________9_akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ8________________________________________38'),
  (4, 'AQAAAAAAAAAAAO3_______________________________________9_akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ7f_______________________________________38'),
  (5, 'AQAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
  (6, 'AQAAAAAAAAAAAAH_______________________________________9_akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZAf_______________________________________38'),
  (7, 'AQAAAAAAAAAAAO1X_9jJFPsgFHHRw9JFzjx0b8vmOjZ51RtqUW6-vg4gakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ7Vf_2MkU-yAUcdHD0kXOPHRvy-Y6NnnVG2pRbr6-DiA'),
  (8, 'AQAAAAAAAAAAAMNMThgm5dQDt44kboiqBRw2zPCq_r_-E30Uiiv5EEViakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZw0xOGCbl1AO3jiRuiKoFHDbM8Kr-v_4TfRSKK_kQRWI'),
  (9, 'AQAAAAAAAAAAAMlA5aRAQVfPsWKLEI2wUajUOeGkITlOxOvMueySqKx4akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZyUDlpEBBV8-xYosQjbBRqNQ54aQhOU7E68y57JKorHg'),
  (10, 'AQAAAAAAAAAAAEfPxUl8U9yOYckdF_1ib_scSeK8qU7tBSKBtRCxEXokakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZR8_FSXxT3I5hyR0X_WJv-xxJ4rypTu0FIoG1ELEReiQ'),
  (11, 'AQAAAAAAAAAAAPHGFl0zNnNRsNqPbkURAQxoF0oDtlgSEsccDh0CbDxyakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ8cYWXTM2c1Gw2o9uRREBDGgXSgO2WBISxxwOHQJsPHI'),
  (12, 'AQAAAAAAAAAAAIcmD3ovEklRGDYPAsJqRw9FDa3zSkE9IQQrQ7nZPhMJakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZhyYPei8SSVEYNg8CwmpHD0UNrfNKQT0hBCtDudk-Ewk'),
  (13, 'AQAAAAAAAAAAACaUjTXKYuZD4mqDF3My5rav650I5CaLZQ8fW72NgdNxakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZJpSNNcpi5kPiaoMXczLmtq_rnQjkJotlDx9bvY2B03E'),
  (14, 'AQAAAAAAAAAAAE6sB3pxPFe09Dl2KaQUWYLGYfSARN0_lkJ9QLFH2XQvakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZTqwHenE8V7T0OXYppBRZgsZh9IBE3T-WQn1AsUfZdC8'),
  (15, 'AQAAAAAAAAAAAN5qewDerceI62tsjSDArpbC8gGQePpgT-5bh9bpia17akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ3mp7AN6tx4jra2yNIMCulsLyAZB4-mBP7luH1umJrXs'),
  (16, 'AQAAAAAAAAAAALyrR3viCGHgHkoOKVKEFGpRAVDZgXdjyvGm9LQi1nBCakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZvKtHe-IIYeAeSg4pUoQUalEBUNmBd2PK8ab0tCLWcEI'),
  (17, 'AQAAAAAAAAAAACopLffjLKurvZ3giNHRq-yfwEQPY37S-6FFCU3BS-oIakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZKikt9-Msq6u9neCI0dGr7J_ARA9jftL7oUUJTcFL6gg'),
  (18, 'AQAAAAAAAAAAAPSp5TT8DSFsRLIY-gxC2ZY1oBJ-4uU8cS9wYJZJ_f8iakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ9KnlNPwNIWxEshj6DELZljWgEn7i5TxxL3Bglkn9_yI'),
  (19, 'AQAAAAAAAAAAAIJoQ2-MQSYZbPZLPH3b2pB0ajeGJfmBPdm4RXB3JWcxakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZgmhDb4xBJhls9ks8fdvakHRqN4Yl-YE92bhFcHclZzE'),
  (20, 'AQAAAAAAAAAAACgQ5cvCzE1O7OVPYcb2l1jiiap6tECzy-qiGZXC9CMrakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZKBDly8LMTU7s5U9hxvaXWOKJqnq0QLPL6qIZlcL0Iys'),
  (21, 'AQAAAAAAAAAAAD64WOePWnJU2MlzEXSpT3Z1X9OUHArJNzXAe6FFeWMOakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZPrhY549aclTYyXMRdKlPdnVf05QcCsk3NcB7oUV5Yw4'),
  (22, 'AQAAAAAAAAAAAKRf3FXHZEjASaGrM_FwI-37K-NYHpx6reimElIV4EIgakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZpF_cVcdkSMBJoasz8XAj7fsr41genHqt6KYSUhXgQiA'),
  (23, 'AQAAAAAAAAAAANSD_oE8a6ZH67_T7EGtyhxhMMK-7unZvwZcjRUcXzluakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ1IP-gTxrpkfrv9PsQa3KHGEwwr7u6dm_BlyNFRxfOW4'),
  (24, 'AQAAAAAAAAAAAIouHTAFAZjGWlRIMSOWDMw4rvaEjh7I9feA6FI3aboyakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZii4dMAUBmMZaVEgxI5YMzDiu9oSOHsj194DoUjdpujI'),
  (25, 'AQAAAAAAAAAAADKIhGL4tIbGitfdlhC-UZK76vO0Q5UawagRhBnZ-gl7akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZMoiEYvi0hsaK192WEL5Rkrvq87RDlRrBqBGEGdn6CXs'),
  (26, 'AQAAAAAAAAAAACJxQlAbnUNVzLopBAS95BV1sDdpPO8fQ4xH-PvzXRFlakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZInFCUBudQ1XMuikEBL3kFXWwN2k87x9DjEf4-_NdEWU'),
  (27, 'AQAAAAAAAAAAAFw3zEkdqEfP65KB1AfvxB4VFEyHbgFwtJmpaiLtMeAeakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZXDfMSR2oR8_rkoHUB-_EHhUUTIduAXC0malqIu0x4B4'),
  (28, 'AQAAAAAAAAAAAERUJRF8uMkO3Lx8HMDnT3R_LB76VjCpZ8ZPKHeSpIpLakkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZRFQlEXy4yQ7cvHwcwOdPdH8sHvpWMKlnxk8od5Kkiks'),
  (29, 'AQAAAAAAAAAAAOz_______________________________________9_akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk', 'AQAAAAAAAAAAAGpJMhD3SZzRf-y1EK4M6iOhEOjVuQH4rK3TCVxzo7kZ7P_______________________________________38');
CREATE FUNCTION input_error(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM t::scor.ciphertext;
	RETURN 'accepted';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT n, input_error(c1_text) AS as_c1, input_error(c2_text) AS as_c2 FROM bad_encodings ORDER BY n;
-- the same, as one literal each, to show the full error
SELECT c1_text::scor.ciphertext FROM bad_encodings WHERE n = 1;
SELECT c2_text::scor.ciphertext FROM bad_encodings WHERE n = 29;

-- Ciphertexts under different keys, or of different scales, do not mix:
-- 22023 (the details name fingerprints of this run's random key, masked)
SELECT error_of($$SELECT c + scor.encrypt(1) FROM kat WHERE i = 1$$);
SELECT error_of($$SELECT scor.encrypt(1) - c FROM kat WHERE i = 1$$);
SELECT error_of($$SELECT enc_sum(c) FROM (SELECT c FROM kat WHERE i = 1 UNION ALL SELECT scor.encrypt(1)) s$$);
SELECT error_of($$SELECT a.c + 'AQIAAAAAAAAAAOLyrgpqvE5xqISpYcUAUV9Y4wtqpYLdjbamWUXgjS12akkyEPdJnNF_7LUQrgzqI6EQ6NW5AfisrdMJXHOjuRk'::scor.ciphertext FROM kat a WHERE i = 1$$);
-- a ciphertext under a foreign key cannot be decrypted here
SELECT error_of($$SELECT decrypt(c) FROM kat WHERE i = 1$$);

-- Binary input of the wrong length: 22P03.  COPY ... FROM (FORMAT binary)
-- reaches ciphertext_recv with the bytes of a field, so a file written
-- from a bytea column of the same shape delivers exactly the bytes wanted
CREATE TABLE raw (i integer, c bytea);
CREATE TABLE kat3 (LIKE kat);
\set rawfile :abs_builddir '/results/ciphertext-raw.bin'
CREATE FUNCTION copy_raw(bytes bytea, path text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE raw;
	INSERT INTO raw VALUES (1, bytes);
	EXECUTE format('COPY raw TO %L WITH (FORMAT binary)', path);
	RETURN error_of(format('COPY kat3 FROM %L WITH (FORMAT binary)', path));
END
$$;
SELECT copy_raw('\x'::bytea, :'rawfile') AS empty;
SELECT copy_raw('\x0102'::bytea, :'rawfile') AS two_bytes;
SELECT copy_raw(substr(scor.ciphertext_send(c), 1, 73), :'rawfile') AS one_short FROM kat WHERE i = 1;
SELECT copy_raw(scor.ciphertext_send(c) || '\x00'::bytea, :'rawfile') AS one_long FROM kat WHERE i = 1;
-- the right length goes through the same validator as text input: 22023
SELECT copy_raw(set_byte(scor.ciphertext_send(c), 0, 2), :'rawfile') AS bad_version FROM kat WHERE i = 1;
SELECT copy_raw(set_byte(scor.ciphertext_send(c), 1, 19), :'rawfile') AS bad_scale FROM kat WHERE i = 1;
SELECT copy_raw(set_byte(scor.ciphertext_send(c), 41, get_byte(scor.ciphertext_send(c), 41) | 128), :'rawfile') AS bad_c1
FROM kat WHERE i = 1;
-- and the unchanged bytes are accepted
SELECT copy_raw(scor.ciphertext_send(c), :'rawfile') AS unchanged FROM kat WHERE i = 1;
SELECT count(*) AS rows, bool_and(a.c::text = b.c::text) AS identical FROM kat3 a JOIN kat b USING (i);
DROP FUNCTION copy_raw(bytea, text);
DROP TABLE raw, kat3;

-- The backend is still healthy after all of the above
SELECT decrypt(scor.encrypt(123)) AS still_fine;
DROP FUNCTION input_error(text);
DROP TABLE kat, kat2, bad_encodings;
