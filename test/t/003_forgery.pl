# Malicious peers and coordinators: tampered partial decryptions, replayed
# decryption requests, contributions copied, negated or combined from
# another site's answer (re-signed with the forger's real key, so that only
# the proofs of knowledge stand in the way), altered and incomplete bundles,
# and member-set mismatches.  Each is refused, naming the offending site.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ScorTest;

my $net = ScorTest->new(sites => [qw(site_a site_b site_c)], peer_user => 'scor_peer_login');
my @sites = $net->sites;

my $shipped = 'SELECT enc_count(*), enc_sum(los) FROM admissions';
my $count_query = "SELECT * FROM scor.federate(\$q\$ $shipped \$q\$) AS t(n bigint, los bigint)";
my $truth = $net->total('SELECT count(*) FROM admissions') . '|'
  . $net->total('SELECT sum(los) FROM admissions');

is($net->sql('site_a', $count_query), $truth, 'the honest network answers exactly');

#
# A peer that tampers with its partial decryption: its superuser wraps
# scor.remote_decrypt and flips a bit of a D in the SHARES it returns.  (The
# honest function serves only a statement of its own, so the wrapper has it
# run over a connection of its own, as the superuser.)
#
$net->sql('site_b', q{
CREATE EXTENSION dblink;
ALTER FUNCTION scor.remote_decrypt(bytea, bytea, bytea) RENAME TO remote_decrypt_honest;
CREATE FUNCTION scor.remote_decrypt(network_id bytea, query_id bytea, bundle bytea) RETURNS bytea
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_catalog.set_byte(s, 10, pg_catalog.get_byte(s, 10) # 1)
	FROM public.dblink(pg_catalog.format('host=%s port=%s dbname=clinic user=postgres',
			pg_catalog.split_part(pg_catalog.current_setting('unix_socket_directories'), ',', 1),
			pg_catalog.current_setting('port')),
		pg_catalog.format('SELECT scor.remote_decrypt_honest(%L, %L, %L)', $1, $2, $3)) AS t(s bytea)
$$;
GRANT EXECUTE ON FUNCTION scor.remote_decrypt(bytea, bytea, bytea) TO scor_peer;
});
foreach my $coordinator (qw(site_a site_c))
{
	my ($out, $err) = $net->try_sql($coordinator, $count_query);
	like($err, qr/ERROR:  SC003: the partial decryption of site "site_b" does not verify/,
		"$coordinator refuses site_b's tampered partial decryption, naming site_b");
	is($out, '', "$coordinator returns nothing partial");
}
$net->sql('site_b', q{
DROP FUNCTION scor.remote_decrypt(bytea, bytea, bytea);
ALTER FUNCTION scor.remote_decrypt_honest(bytea, bytea, bytea) RENAME TO remote_decrypt;
DROP EXTENSION dblink;
});
is($net->sql('site_a', $count_query), $truth, 'with site_b honest again, queries work');

#
# The protocol by hand: phase 1 at each site as scor_peer, the bundle built
# here, phase 2 at a site.
#
my $qid_counter = 0;
sub fresh_qid { return sprintf('%032x', 0x5c0 + ++$qid_counter); }

# phase 1 at every site for a new query id; the answers by site
sub answers_for
{
	my ($qid) = @_;
	return { map { $_ => $net->contribute($_, $qid, $shipped) } @sites };
}

# the bundle of the given answers, in the given order (default: all, by name)
sub bundle_of
{
	my ($answers, @order) = @_;
	@order = @sites unless @order;
	return ScorTest::bundle(map { $answers->{$_} } @order);
}

# remote_decrypt at a site; returns (shares hex or '', error)
sub decrypt_at
{
	my ($site, $qid, $bundle) = @_;
	my ($out, $err) = $net->decrypt($site, $qid, $bundle);
	return ($out // '', $err // '');
}

# replayed decryption request
my $qid = fresh_qid();
my $answers = answers_for($qid);
my ($out, $err) = decrypt_at('site_b', $qid, bundle_of($answers));
like($out, qr/^\\x53435331[0-9a-f]+$/, 'an honest bundle is partially decrypted (SHARES "SCS1")');
is($err, '', 'without an error');
($out, $err) = decrypt_at('site_b', $qid, bundle_of($answers));
like($err, qr/ERROR:  SC002: query id $qid was already decrypted by site "site_b"/,
	'the same decryption request again is refused as a replay (SC002)');
is($out, '', 'and returns no shares');
my $nid = $net->network_id('site_c');
my $sig = $net->request_signature('site_a', 'site_c', $nid, $qid, $shipped);
($out, $err) = $net->try_sql('site_c', qq{
SET ROLE scor_peer;
SELECT scor.remote_contribute('\\x$nid', '\\x$qid', 'site_a', 'mallory', '$shipped', false, '', '{}', '$sig');
});
like($err, qr/ERROR:  SC002: query id $qid was already answered by site "site_c"/,
	'a replayed phase-1 request, with its real signature, is refused too (SC002)');

#
# A member that claims to be another coordinator: site_b calls site_c's
# remote_contribute (as the peer login does) in site_a's name, to spend
# site_a's analyst's privacy budget at site_c.  Signed with site_b's own
# key, or with garbage, or signed by site_a for another site, it is refused
# naming site_a, and site_c's ledger, query log and audit log do not move.
#
{
	my $dp_shipped = 'SELECT dp_noise(enc_count(*), 0.5) FROM admissions';
	$net->sql('site_c', "SELECT scor.grant_budget('site_a', 'analyst', 1.0)");
	my $ledger = q{SELECT budget::float8 || '|' || spent::float8 FROM scor.privacy_budget
		WHERE coordinator = 'site_a' AND analyst = 'analyst'};
	my $logs = q{SELECT (SELECT count(*) FROM scor.query_log) || '|' || (SELECT count(*) FROM scor.audit_log)};
	my $logs_before = $net->sql('site_c', $logs);
	is($net->sql('site_c', $ledger), '1|0', 'site_c grants site_a\'s analyst epsilon 1.0');

	my $forged_qid = fresh_qid();
	my %signatures = (
		'site_b\'s own signature' =>
		  $net->request_signature('site_b', 'site_c', $nid, $forged_qid, $dp_shipped, analyst => 'analyst'),
		'a garbage signature' => '\\x' . ('5a' x 64),
		'no signature' => '\\x',
		'site_a\'s signature of its request to site_b' =>
		  $net->request_signature('site_a', 'site_b', $nid, $forged_qid, $dp_shipped, analyst => 'analyst'),
	);
	foreach my $what (sort keys %signatures)
	{
		($out, $err) = $net->try_sql('site_c', qq{
SET ROLE scor_peer;
SELECT scor.remote_contribute('\\x$nid', '\\x$forged_qid', 'site_a', 'analyst', '$dp_shipped', false, '', '{}', '$signatures{$what}');
});
		like($err, qr/ERROR:  SC003: the request from site "site_a" does not verify/,
			"a request in site_a's name with $what is refused, naming site_a (SC003)");
		is($out, '', "and answered with nothing ($what)");
	}
	is($net->sql('site_c', $ledger), '1|0', 'site_c\'s ledger for site_a\'s analyst is unchanged');
	is($net->sql('site_c', $logs), $logs_before, 'and nothing was logged as answered or charged');

	# a request in the name of a site that is not a member at all
	($out, $err) = $net->try_sql('site_c', qq{
SET ROLE scor_peer;
SELECT scor.remote_contribute('\\x$nid', '\\x$forged_qid', 'site_z', 'analyst', '$dp_shipped', false, '', '{}', '$signatures{'site_b\'s own signature'}');
});
	like($err, qr/ERROR:  SC001: request from "site_z" is for another member set/,
		'a request in the name of a non-member is refused, naming it (SC001)');

	# the control: the same request signed by site_a for site_c is answered and charged
	$sig = $net->request_signature('site_a', 'site_c', $nid, $forged_qid, $dp_shipped, analyst => 'analyst');
	($out, $err) = $net->try_sql('site_c', qq{
SET ROLE scor_peer;
SELECT scor.remote_contribute('\\x$nid', '\\x$forged_qid', 'site_a', 'analyst', '$dp_shipped', false, '', '{}', '$sig') AS answer \\gset
SELECT length(:'answer') > 0;
});
	is($out, 't', 'the request signed by site_a itself is answered (control)');
	is($net->sql('site_c', $ledger), '1|0.5', 'and charged to site_a\'s analyst at site_c');
}

#
# Contributions copied, negated or combined from another site's answer.
# scor_forge rewrites site_c's answer and re-signs it with site_c's real
# signing key: the signature verifies, only the proof of knowledge fails.
#
my $network_key = $net->network_key_hex('site_a');
$qid = fresh_qid();
$answers = answers_for($qid);
my $honest = bundle_of($answers);
my %forged = (
	'copied from site_b' => $net->forge('copy', $honest, 'site_c', 'site_b'),
	'negated from site_b' => $net->forge('negate', $honest, 'site_c', 'site_b'),
	'site_b\'s plus a fresh encryption of 0' => $net->forge('combine', $honest, 'site_c', 'site_b', $network_key),
);
foreach my $what (sort keys %forged)
{
	isnt(ScorTest::tohex($forged{$what}), ScorTest::tohex($honest), "the forger changed the bundle ($what)");
	is(length($forged{$what}), length($honest), "the forged bundle has the honest one's layout ($what)");
	($out, $err) = decrypt_at('site_a', $qid, $forged{$what});
	like($err, qr/ERROR:  SC003: the answer of site "site_c" was refused\nDETAIL:  The proof for column "enc_count" of group 1 does not verify/,
		"a ciphertext $what is refused by its proof, naming site_c (SC003)");
	is($out, '', "no shares for a ciphertext $what");
}
# a scale on a GROUP BY key column: a byte that no proof binds, set by a
# correctly signing site_c, is refused by the parser (08P01), naming site_c
{
	my $grouped = 'SELECT ward, enc_count(*) FROM admissions GROUP BY ward';
	my $gqid = fresh_qid();
	my %grouped_answers = map { $_ => $net->contribute($_, $gqid, $grouped) } @sites;
	my $bundle = bundle_of(\%grouped_answers);
	my $forged = $net->forge('keyscale', $bundle, 'site_c');
	isnt(ScorTest::tohex($forged), ScorTest::tohex($bundle), 'the forger set a key column\'s scale');
	($out, $err) = decrypt_at('site_a', $gqid, $forged);
	like($err, qr/ERROR:  08P01: .*site "site_c".*\n(?s:.*)A group key column has a scale or noise/,
		'a GROUP BY key column with a scale is refused, naming site_c (08P01)');
	is($out, '', 'no shares for an answer with a scaled key column');
}

# the same forgeries are refused at every other site; site_c itself sees
# first that its own answer is not the one it returned
($out, $err) = decrypt_at('site_b', $qid, $forged{'copied from site_b'});
like($err, qr/ERROR:  SC003: the answer of site "site_c" was refused/,
	"site_b refuses the copied contribution too, naming site_c");
($out, $err) = decrypt_at('site_c', $qid, $forged{'copied from site_b'});
like($err, qr/ERROR:  SC003: the bundle does not hold site "site_c"'s own answer unmodified/,
	"site_c refuses the bundle: its own answer was replaced");

# the positive control: a fresh, properly proven encryption re-signed by
# the same tool verifies (so the refusals above are the proofs' doing)
$qid = fresh_qid();
$answers = answers_for($qid);
my $reencrypted = $net->forge('reencrypt', bundle_of($answers), 'site_c', $network_key, '7');
($out, $err) = decrypt_at('site_a', $qid, $reencrypted);
is($err, '', 'an answer re-signed by the forge tool with a valid proof is accepted (control)');
like($out, qr/^\\x53435331/, 'and partially decrypted');

# the honest bundle for a fresh query id is accepted
$qid = fresh_qid();
$answers = answers_for($qid);
($out, $err) = decrypt_at('site_a', $qid, bundle_of($answers));
is($err, '', 'the honest bundle of a fresh query id is accepted');
like($out, qr/^\\x53435331/, 'and partially decrypted');

#
# A coordinator that alters a site's own answer, or leaves one out, or adds one
#
$qid = fresh_qid();
$answers = answers_for($qid);
{
	# a bit flipped in the ciphertext of site_a's answer: its signature fails
	my $tampered = $answers->{site_a};
	my $pos = length($tampered) - 64 - 64 - 40;
	substr($tampered, $pos, 1) = chr(ord(substr($tampered, $pos, 1)) ^ 1);
	($out, $err) = decrypt_at('site_a', $qid, bundle_of({ %$answers, site_a => $tampered }));
	like($err, qr/ERROR:  SC003: the answer of site "site_a" was refused\nDETAIL:  Its signature does not verify/,
		'a bundle with a bit of site_a\'s answer flipped is refused by the signature');
}
# an altered answer that verifies (re-signed with site_a's key): only site_a
# itself can tell it is not the answer it returned
my $altered = $net->forge('reencrypt', bundle_of($answers), 'site_a', $network_key, '1000000');
($out, $err) = decrypt_at('site_a', $qid, $altered);
like($err, qr/ERROR:  SC003: the bundle does not hold site "site_a"'s own answer unmodified/,
	'site_a refuses a bundle whose copy of its own answer was altered');
is($out, '', 'and returns no shares');
# an answer left out, an answer added, answers out of order
($out, $err) = decrypt_at('site_a', $qid, bundle_of($answers, qw(site_a site_b)));
like($err, qr/ERROR:  SC001: the bundle holds 2 answers for a network of 3 members/,
	'a bundle missing site_c\'s answer is refused (SC001)');
($out, $err) = decrypt_at('site_a', $qid, bundle_of($answers, qw(site_a site_b site_c site_c)));
like($err, qr/ERROR:  SC001: the bundle holds 4 answers for a network of 3 members/,
	'a bundle with an extra answer is refused (SC001)');
($out, $err) = decrypt_at('site_a', $qid, bundle_of($answers, qw(site_a site_c site_b)));
like($err, qr/ERROR:  SC003: the answer of site "site_c" was refused\nDETAIL:  It claims to come from site "site_c", but was received for site "site_b"/,
	'a bundle with answers out of order is refused, naming the misplaced site');
# after all these refusals, the honest bundle of that query still works
($out, $err) = decrypt_at('site_a', $qid, bundle_of($answers));
is($err, '', 'the honest bundle is accepted after the refused ones');

#
# Member-set mismatches
#
# site_b drops site_c: the others refuse its requests, and it theirs
$net->sql('site_b', "SELECT scor.remove_peer('site_c')");
is($net->sql('site_b', 'SELECT members FROM scor.network_key()'), '2', 'site_b now has two members');
($out, $err) = $net->try_sql('site_b', $count_query);
like($err, qr/ERROR:  SC001: site "site_a" returned an error: request from "site_b" is for another member set/,
	'site_a refuses site_b\'s request for a smaller member set (SC001)');
($out, $err) = $net->try_sql('site_a', $count_query);
like($err, qr/ERROR:  SC001: site "site_b" returned an error: request from "site_a" is for another member set/,
	'site_b refuses site_a\'s request, naming the site that dropped a peer (SC001)');
$net->sql('site_b', "SET client_min_messages = warning; SELECT scor.add_peer('site_c')");
is($net->sql('site_b', $count_query), $truth, 'with site_c pinned again, site_b federates');

# a coordinator slips in an extra member (site_d, a fourth database on
# site_c's cluster with its own key): every other site refuses
my $node_c = $net->node('site_c');
$node_c->safe_psql('postgres', 'CREATE DATABASE clinic_d');
$node_c->safe_psql('clinic_d', q{
SET client_min_messages = warning;
CREATE EXTENSION scor;
SELECT site_name FROM scor.init_site('site_d');
CREATE TABLE admissions (id integer, los integer);
INSERT INTO admissions SELECT i, i FROM generate_series(1, 10) i;
});
my $port_c = $node_c->port;
$net->sql('site_a', qq{
SET client_min_messages = warning;
CREATE SERVER site_d FOREIGN DATA WRAPPER scor OPTIONS (host '127.0.0.1', port '$port_c', dbname 'clinic_d');
CREATE USER MAPPING FOR PUBLIC SERVER site_d OPTIONS (user 'scor_peer_login', password '$ScorTest::PEER_PASSWORD');
SELECT scor.add_peer('site_d');
});
is($net->sql('site_a', 'SELECT members FROM scor.network_key()'), '4', 'site_a now counts four members');
($out, $err) = $net->try_sql('site_a', $count_query);
like($err, qr/ERROR:  SC001: site "site_[bcd]" returned an error: request from "site_a" is for another member set/,
	'the other sites refuse a coordinator with an extra member (SC001)');
is($out, '', 'and nothing is returned');
# nor can the extra member's answer ride in a bundle for the real network
$nid = $net->network_id('site_b');
$sig = $net->request_signature('site_a', 'site_d', $nid, '00000000000000000000000000000d01', $shipped);
($out, $err) = do {
	my ($o, $e);
	$node_c->psql('clinic_d', qq{
\\set VERBOSITY verbose
SET ROLE scor_peer;
SELECT scor.remote_contribute('\\x$nid', '\\x00000000000000000000000000000d01', 'site_a', 'mallory', '$shipped', false, '', '{}', '$sig');
}, stdout => \$o, stderr => \$e);
	($o, $e);
};
like($err, qr/ERROR:  SC001: request from "site_a" is for another member set/,
	'site_d does not answer for a network it is not a member of (SC001)');
$net->sql('site_a', "SELECT scor.remove_peer('site_d'); DROP SERVER site_d CASCADE;");
$node_c->safe_psql('postgres', 'DROP DATABASE clinic_d');
is($net->sql('site_a', $count_query), $truth, 'with the extra member removed, site_a federates again');

# every site still agrees on the member set
is(scalar(keys %{ { map { $net->network_id($_) => 1 } @sites } }), 1,
	'all sites end with the same network id');

$net->node($_)->stop foreach @sites;

done_testing();
