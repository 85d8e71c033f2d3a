# Consortium onboarding from one signed network manifest fetched over HTTPS:
# three clusters join with one scor.join_network() each and answer a
# federated query; bad manifests and bad servers (unknown CA, wrong host
# name, slow, oversized) are refused and change nothing; one site rotates
# its key and a fourth site is added, through new manifest versions, and the
# query is right again.  The HTTPS server (test/tools/manifest_server.py) and
# its certificates (openssl) are made here, on loopback.
use strict;
use warnings;

use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use ScorTest;

my @first = qw(site_a site_b site_c);
my $net = ScorTest->new(sites => [@first], declare_peers => 0);

# ---- a CA, a server certificate for 127.0.0.1, and two bad ones ----
my $dir = PostgreSQL::Test::Utils::tempdir();
make_path("$dir/www");

sub openssl
{
	my @args = @_;
	my ($out, $err);
	IPC::Run::run([ 'openssl', @args ], '>', \$out, '2>', \$err)
	  or die "openssl @args failed: $err";
	return;
}

sub make_ca
{
	my ($name) = @_;
	openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
		'-nodes', '-keyout', "$dir/$name.key", '-out', "$dir/$name.crt", '-days', '2',
		'-subj', "/CN=scor test $name");
	return;
}

sub make_cert
{
	my ($name, $ca, $san) = @_;
	open my $ext, '>', "$dir/$name.ext" or die $!;
	print $ext "subjectAltName = $san\nbasicConstraints = CA:FALSE\n";
	close $ext;
	openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', "$dir/$name.key", '-out', "$dir/$name.csr", '-subj', "/CN=$name");
	openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/$ca.crt", '-CAkey', "$dir/$ca.key",
		'-CAcreateserial', '-out', "$dir/$name.crt", '-days', '2', '-extfile', "$dir/$name.ext");
	return;
}

make_ca('ca');
make_ca('rogue_ca');
make_cert('good', 'ca', 'IP:127.0.0.1');
make_cert('rogue', 'rogue_ca', 'IP:127.0.0.1');
make_cert('wrongname', 'ca', 'DNS:wrong.example');

my $server_log = "$dir/server.log";
my $server = IPC::Run::start(
	[
		'python3', "$ENV{TESTDIR}/test/tools/manifest_server.py", $dir,
		"good:$dir/good.crt:$dir/good.key", "rogue:$dir/rogue.crt:$dir/rogue.key",
		"wrongname:$dir/wrongname.crt:$dir/wrongname.key"
	],
	'<', \undef, '>', $server_log, '2>', $server_log);
my %port;
foreach my $name (qw(good rogue wrongname))
{
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	sleep 0.1 until -e "$dir/port-$name" || time > $deadline;
	$port{$name} = slurp_file("$dir/port-$name");
}
my $url = "https://127.0.0.1:$port{good}/manifest.json";
note("HTTPS server on ports $port{good} (good), $port{rogue} (rogue CA), $port{wrongname} (wrong name)");

# Every site trusts the test CA for manifests
foreach my $site (@first)
{
	$net->sql($site, "ALTER DATABASE clinic SET scor.manifest_ca_file = '$dir/ca.crt'");
}

# ---- making manifests: every site's entry, the payload, signatures ----
sub member_entry
{
	my ($site) = @_;
	my $port = $net->node($site)->port;
	return $net->sql($site, "SELECT scor.manifest_member('127.0.0.1', $port, 'clinic', 'disable')");
}

sub quote { my ($s) = @_; $s =~ s/'/''/g; return "'$s'"; }

sub payload
{
	my ($version, $previous, @entries) = @_;
	my $prev = defined $previous ? quote($previous) : 'NULL';
	my $members = join(', ', map { quote($_) . '::jsonb' } @entries);
	return $net->sql('site_a',
		"SELECT scor.manifest_payload('consortium', $version, $prev, jsonb_build_array($members))");
}

sub digest { my ($p) = @_; return $net->sql('site_a', 'SELECT scor.manifest_digest(' . quote($p) . ')'); }

sub sign
{
	my ($site, $p) = @_;
	return $net->sql($site, 'SET client_min_messages = warning; SELECT scor.manifest_sign(' . quote($p) . ')');
}

# The envelope of a payload signed by the given sites (site => signature)
sub envelope
{
	my ($p, $sigs, $previous) = @_;
	my $array = join(', ',
		map { "jsonb_build_object('site', '$_->[0]', 'signature', '$_->[1]')" } @$sigs);
	return $net->sql('site_a',
		'SELECT scor.manifest_envelope(' . quote($p) . ", jsonb_build_array($array)"
		  . (defined $previous ? ', ' . quote($previous) : '') . ')');
}

sub publish
{
	my ($name, $content) = @_;
	open my $fh, '>', "$dir/www/$name" or die $!;
	print $fh $content;
	close $fh;
	return;
}

# Join or sync at a site; (stdout, stderr)
sub join_at
{
	my ($site, $u, $d, %opts) = @_;
	return $net->try_sql($site, ($opts{setup} // '')
		  . "SELECT version, members, member_set_matches FROM scor.join_network('$u', '$d');");
}

sub status
{
	my ($site) = @_;
	return $net->sql($site, q{SELECT version || '|' || array_to_string(members, ',') || '|'
		|| CASE WHEN member_set_matches THEN 't' ELSE 'f' END FROM scor.network_status()});
}

sub servers
{
	my ($site) = @_;
	return $net->sql($site, 'SELECT string_agg(srvname, \',\' ORDER BY srvname) FROM pg_foreign_server');
}

# Everything a manifest can change at a site: the pinned members, the
# foreign servers and their options, the user mappings, the network's state
# and its history.  A refused manifest must leave all of it as it was.
sub snapshot
{
	my ($site) = @_;
	return $net->sql($site, q{
SELECT concat_ws(E'\n',
	'member: ' || coalesce((SELECT json_agg(m ORDER BY m.site_name) FROM scor.member m)::text, '[]'),
	'servers: ' || coalesce((SELECT json_agg(json_build_array(s.srvname, s.srvowner::regrole::text, s.srvoptions, s.srvacl::text[])
		ORDER BY s.srvname) FROM pg_foreign_server s)::text, '[]'),
	'mappings: ' || coalesce((SELECT json_agg(json_build_array(u.srvname, u.usename, u.umoptions)
		ORDER BY u.srvname, u.usename) FROM pg_user_mappings u)::text, '[]'),
	'network: ' || coalesce((SELECT json_agg(n) FROM scor.network n)::text, '[]'),
	'history: ' || coalesce((SELECT json_agg(v ORDER BY v.version) FROM scor.network_manifest v)::text, '[]'),
	'network_id: ' || (SELECT network_id FROM scor.network_key()))});
}

my %entry = map { $_ => member_entry($_) } @first;
my $p1 = payload(1, undef, map { $entry{$_} } @first);
my $d1 = digest($p1);
my %s1 = map { $_ => sign($_, $p1) } @first;
my $e1 = envelope($p1, [ map { [ $_, $s1{$_} ] } @first ]);
like($d1, qr/^[0-9a-f]{64}$/, 'version 1 has a SHA-256 digest');

# ---- bad servers: each refused, naming the check ----
publish('manifest.json', $e1);
my $empty = snapshot('site_a');
my ($out, $err) = join_at('site_a', "https://127.0.0.1:$port{rogue}/manifest.json", $d1);
like($err, qr/SC009: could not fetch the network manifest: certificate verification failed/,
	'a server whose certificate another CA signed is refused');
($out, $err) = join_at('site_a', "https://127.0.0.1:$port{wrongname}/manifest.json", $d1);
like($err, qr/SC009: could not fetch the network manifest: certificate verification failed/,
	'a certificate for another host name is refused');
($out, $err) = join_at('site_a', $url, $d1, setup => "SET scor.manifest_ca_file = '';");
like($err, qr/SC009: could not fetch the network manifest: certificate verification failed/,
	'without the CA file, the system CA bundle does not trust the test CA');
($out, $err) = join_at('site_a', "https://127.0.0.1:$port{good}/nothing.json", $d1);
like($err, qr/SC009: could not fetch the network manifest: the server answered with HTTP status 404/,
	'a missing manifest is a 404, named');
($out, $err) = join_at('site_a', "http://127.0.0.1:$port{good}/manifest.json", $d1);
like($err, qr/22023: unsupported manifest URL/, 'plain http is refused');

my $t0 = time;
($out, $err) = join_at('site_a', "https://127.0.0.1:$port{good}/slow/manifest.json", $d1,
	setup => "SET scor.manifest_timeout = '2s';");
my $elapsed = time - $t0;
like($err, qr/SC009: could not fetch the network manifest: timed out after 2000 ms/,
	'a manifest that trickles in is refused at the timeout');
cmp_ok($elapsed, '<', 10, "and the join gave up quickly (${elapsed}s)");

# a fetch is interruptible: statement_timeout cancels it long before the transfer ends
$t0 = time;
($out, $err) = join_at('site_a', "https://127.0.0.1:$port{good}/slow/manifest.json", $d1,
	setup => "SET scor.manifest_timeout = '5min'; SET statement_timeout = '1s';");
$elapsed = time - $t0;
like($err, qr/57014: canceling statement due to statement timeout/, 'a slow fetch can be canceled');
cmp_ok($elapsed, '<', 10, "and the cancel took effect at once (${elapsed}s)");

publish('big.json', $e1 . (' ' x (1024 * 1024)));
($out, $err) = join_at('site_a', "https://127.0.0.1:$port{good}/big.json", digest($p1));
like($err, qr/SC009: could not fetch the network manifest: manifest larger than 1048576 bytes/,
	'a manifest over scor.manifest_max_bytes is refused');
is(snapshot('site_a'), $empty, 'the bad servers, the slow and the oversized manifest changed nothing at site_a');

# ---- bad manifests over HTTPS: each refused ----
my $site_d = $net->add_site('site_d');
$net->sql('site_d', "ALTER DATABASE clinic SET scor.manifest_ca_file = '$dir/ca.crt'");
my %bad = (
	unsigned => [ envelope($p1, []), $d1, qr/version 1 is not signed by member "site_a"/ ],
	'signed by a non-member' => [
		envelope($p1, [ (map { [ $_, $s1{$_} ] } @first), [ 'site_d', sign('site_d', $p1) ] ]),
		$d1, qr/version 1 is signed by "site_d", which is not a member of version 1/
	],
	truncated => [ substr($e1, 0, length($e1) - 40), $d1, qr/the envelope is not valid JSON/ ],
);
{
	# site_b presents site_c's proof of possession
	my $bad_b = $net->sql('site_a', 'SELECT jsonb_set(' . quote($entry{site_b}) . ", '{proof}', "
		  . quote($entry{site_c}) . "::jsonb -> 'proof')");
	my $p = payload(1, undef, $entry{site_a}, $bad_b, $entry{site_c});
	$bad{'a bad proof of possession'} = [ envelope($p, []), digest($p),
		qr/the proof of possession of member "site_b" does not verify/ ];
}
foreach my $case (sort keys %bad)
{
	my ($content, $d, $re) = @{ $bad{$case} };
	publish('manifest.json', $content);
	($out, $err) = join_at('site_a', $url, $d);
	like($err, qr/SC008: network manifest refused: $re/, "$case: refused");
	is(snapshot('site_a'), $empty, "$case: changes nothing");
}
is($net->sql('site_a', 'SELECT count(*) FROM scor.network_status()'), '0', 'site_a follows no network yet');
is(servers('site_a'), '', 'and has no servers');

# ---- the valid manifest: one statement per site ----
publish('manifest.json', $e1);
foreach my $site (@first)
{
	($out, $err) = join_at($site, $url, $d1);
	is($out, '1|{site_a,site_b,site_c}|t', "$site joins version 1 from $url");
	like($err, qr/these servers have no user mapping yet/, "$site is told to add its user mappings");
	is(servers($site), join(',', grep { $_ ne $site } @first), "$site has a server for each other site");
}
my %nid = map { $_ => $net->network_id($_) } @first;
is(scalar(keys %{ { reverse %nid } }), 1, 'the three sites compute the same network id');
is($net->sql('site_a', 'SELECT manifest_digest = ' . quote($d1) . ' AND network_id = (SELECT network_id FROM scor.network_key()) FROM scor.network_status()'),
	't', 'network_status shows the pinned digest and the network id');

# Credentials stay local
sub map_users
{
	my ($site) = @_;
	$net->sql($site, qq{
DO \$\$
DECLARE
	s text;
BEGIN
	FOR s IN SELECT srvname FROM pg_foreign_server f
		WHERE NOT EXISTS (SELECT FROM pg_user_mappings u WHERE u.srvid = f.oid) LOOP
		EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I OPTIONS (user %L, password %L)',
					   s, 'scor_peer', '$ScorTest::PEER_PASSWORD');
	END LOOP;
END
\$\$;});
	return;
}
map_users($_) foreach @first;

my $query = 'SELECT * FROM scor.federate($q$ SELECT enc_count(*), enc_sum(los) FROM admissions WHERE covid $q$) AS t(n bigint, los bigint)';
my $n = $net->total('SELECT count(*) FROM admissions WHERE covid');
my $los = $net->total('SELECT coalesce(sum(los), 0) FROM admissions WHERE covid');
# total() sums over every site of the network object; site_d is not a member yet
my $n_d = $net->sql('site_d', 'SELECT count(*) FROM admissions WHERE covid');
my $los_d = $net->sql('site_d', 'SELECT coalesce(sum(los), 0) FROM admissions WHERE covid');
my ($n3, $los3) = ($n - $n_d, $los - $los_d);
is($net->sql('site_a', $query), "$n3|$los3", "the three sites' federated query is exact ($n3, $los3)");
my ($outcome) = $net->attempt('site_b', $query, user => 'analyst');
is($outcome, 'ok', 'an analyst who is not a superuser federates through the joined servers');

# ---- bad manifests at a site that follows version 1: each refused, and nothing changes ----
my $joined = snapshot('site_a');
{
	# a version 2 that would be valid but for the fault under test
	my $p = payload(2, $d1, map { $entry{$_} } @first);
	my @sigs = map { [ $_, sign($_, $p) ] } @first;

	publish('manifest.json', envelope($p, \@sigs, $e1) . (' ' x (1024 * 1024)));
	($out, $err) = $net->try_sql('site_a', 'SELECT version FROM scor.sync_network()');
	like($err, qr/SC009: could not fetch the network manifest: manifest larger than 1048576 bytes/,
		'joined site: an oversized version 2 is refused');
	is(snapshot('site_a'), $joined, 'joined site: the oversized manifest changes nothing');

	publish('manifest.json', envelope($p, \@sigs, $e1));
	($out, $err) = join_at('site_a', "https://127.0.0.1:$port{good}/slow/manifest.json", digest($p),
		setup => "SET scor.manifest_timeout = '2s';");
	like($err, qr/SC009: could not fetch the network manifest: timed out after 2000 ms/,
		'joined site: a version 2 that trickles in is refused at the timeout');
	is(snapshot('site_a'), $joined, 'joined site: the slow manifest changes nothing');

	my $bad_b = $net->sql('site_a', 'SELECT jsonb_set(' . quote($entry{site_b}) . ", '{proof}', "
		  . quote($entry{site_c}) . "::jsonb -> 'proof')");
	my $p_pop = payload(2, $d1, $entry{site_a}, $bad_b, $entry{site_c});
	publish('manifest.json', envelope($p_pop, [], $e1));
	($out, $err) = $net->try_sql('site_a', 'SELECT version FROM scor.sync_network()');
	like($err, qr/SC008: network manifest refused: the proof of possession of member "site_b" does not verify/,
		'joined site: a version 2 with a bad proof of possession is refused');
	is(snapshot('site_a'), $joined, 'joined site: the bad proof changes nothing');

	publish('manifest.json', envelope($p, [ @sigs, [ 'site_d', sign('site_d', $p) ] ], $e1));
	($out, $err) = $net->try_sql('site_a', 'SELECT version FROM scor.sync_network()');
	like($err, qr/SC008: network manifest refused: version 2 is signed by "site_d", which is not a member of version 1/,
		'joined site: a version 2 also signed by a non-member is refused');
	is(snapshot('site_a'), $joined, 'joined site: the non-member signature changes nothing');
	publish('manifest.json', $e1);
}

# ---- rotation: site_c's new key, in version 2, while queries are in flight ----
# query 1, by hand: all three sites answer round 1 under version 1
my $nid1 = $nid{site_a};
my $qid = '0f' x 16;
my %answer = map { $_ => $net->contribute($_, $qid, 'SELECT enc_count(*) FROM admissions') } @first;
is(scalar(grep { length($answer{$_}) > 0 } @first), 3, 'the three sites answered round 1 of query 1 under version 1');
my $bundle1 = ScorTest::bundle(map { $answer{$_} } @first);

# query 2, through scor.federate at site_a: site_b is held in round 1 by a
# lock on the table its shipped query reads
my $holder = $net->node('site_b')->background_psql('clinic', on_error_stop => 1);
$holder->query_safe('BEGIN; LOCK TABLE admissions IN ACCESS EXCLUSIVE MODE');
my $fed = $net->node('site_a')->background_psql('clinic', on_error_stop => 0);
$fed->query_safe("SET scor.peer_timeout = '3min'");
$fed->query_safe('\set VERBOSITY verbose');
$fed->query_until(qr/started/, "\\echo started\n$query;\n");
ok($net->node('site_b')->poll_query_until('clinic', q{SELECT count(*) > 0 FROM pg_stat_activity
	WHERE wait_event_type = 'Lock' AND query LIKE '%remote_contribute%'}),
	'query 2 waits at site_b in round 1');

$net->sql('site_c', "SELECT site_name FROM scor.init_site('site_c', rotate => true)");
is(status('site_c'), '1|site_a,site_b,site_c|f', 'after its rotation, site_c no longer matches version 1');
$entry{site_c} = member_entry('site_c');
my $p2 = payload(2, $d1, map { $entry{$_} } @first);
my $d2 = digest($p2);
my %s2 = map { $_ => sign($_, $p2) } @first;
my $e2 = envelope($p2, [ map { [ $_, $s2{$_} ] } @first ], $e1);

# a version 2 without the rotated site's signature, then a rollback, are refused
publish('manifest.json', envelope($p2, [ map { [ $_, $s2{$_} ] } qw(site_a site_b) ], $e1));
($out, $err) = $net->try_sql('site_a', 'SELECT version FROM scor.sync_network()');
like($err, qr/SC008: network manifest refused: version 2 changes the key of member "site_c" but is not signed by it/,
	'a rotation not signed with the new key is refused');
publish('manifest.json', $e2);
foreach my $site (qw(site_a site_c))
{
	is($net->sql($site, 'SELECT version FROM scor.sync_network()'), '2', "$site syncs to version 2");
}
publish('manifest.json', $e1);
($out, $err) = $net->try_sql('site_a', 'SELECT version FROM scor.sync_network()');
like($err, qr/SC008: network manifest refused: its newest version 1 is older than this site's version 2/,
	'a rollback to version 1 is refused');
publish('manifest.json', $e2);

# release site_b: query 2 either completes under version 1 with the version 1
# totals, or fails cleanly with a member-set mismatch; it never decrypts under
# a mixed member set, so never gives a wrong total
$holder->query_safe('COMMIT');
my ($fed_out) = $fed->query('SELECT 42');
my $fed_err = $fed->{stderr};
$fed->{stderr} = '';
my @fed_rows = split /\n/, $fed_out;
is(pop @fed_rows, '42', "query 2's session is healthy afterwards");
my $fed_result = join("\n", @fed_rows);
note("query 2: " . ($fed_err eq '' ? "completed: $fed_result" : "failed: $fed_err"));
ok(($fed_err eq '' && $fed_result eq "$n3|$los3")
	  || ($fed_err =~ /ERROR:  SC001: .*(?:another member set|answers for another member set)/ && $fed_result eq ''),
	'query 2, begun under version 1 and finished after a sync, gives the version 1 totals or fails with SC001');
like($fed_err, qr/SC001: site "site_c" returned an error: request from "the coordinator" is for another member set/,
	'here it fails: site_c, rotated and synced, refuses round 2 of query 1\'s member set, and is named');
$fed->quit;
$holder->quit;

# query 1: its full version 1 bundle is refused by the sites at version 2
my $short1 = substr($nid1, 0, 16);
foreach my $site (qw(site_a site_c))
{
	my $short2 = substr($net->network_id($site), 0, 16);
	($out, $err) = $net->decrypt($site, $qid, $bundle1, network_id => $nid1);
	like($err, qr/SC001: request from "the coordinator" is for another member set\nDETAIL:  The request names network $short1; this site's network of 3 members is $short2\./,
		"$site, at version 2, refuses to decrypt query 1 under version 1's network id");
	is($out, '', "$site returns no share for it");
	($out, $err) = $net->decrypt($site, $qid, $bundle1);
	like($err, qr/SC001: the answer of site "site_a" was refused\nDETAIL:  It answers for another member set\./,
		"$site refuses query 1's bundle under version 2's network id too: its answers are for version 1");
	is($out, '', "$site returns no share for it either");
}

# until site_b syncs, the member sets differ and queries fail cleanly
($outcome) = $net->attempt('site_a', $query);
like($outcome, qr/^SC001: /, 'a query while site_b is still at version 1 fails with a member-set mismatch');
is($net->sql('site_b', 'SELECT version FROM scor.sync_network()'), '2', 'site_b syncs to version 2');
is(status($_), '2|site_a,site_b,site_c|t', "$_ follows version 2") foreach @first;
%nid = map { $_ => $net->network_id($_) } @first;
is(scalar(keys %{ { reverse %nid } }), 1, 'the three sites compute the same network id again');

# query 1 cannot be decrypted by site_b either, now at version 2
($out, $err) = $net->decrypt('site_b', $qid, $bundle1, network_id => $nid1);
like($err, qr/SC001: request from "the coordinator" is for another member set/,
	'site_b, synced to version 2, refuses round 2 of query 1 under version 1\'s network id');
($out, $err) = $net->decrypt('site_b', $qid, $bundle1);
like($err, qr/SC001: the answer of site "site_a" was refused/,
	'and under version 2\'s network id');
is($net->sql('site_b', "SELECT count(*) FROM scor.query_log WHERE query_id = '\\x$qid' AND decrypted_at IS NULL"),
	'1', 'site_b never decrypted query 1');

is($net->sql('site_a', $query), "$n3|$los3", 'after the rotation, the federated query is exact');

# ---- a fourth site, in version 3 ----
$entry{site_d} = member_entry('site_d');
my @all = (@first, 'site_d');
my $p3 = payload(3, $d2, map { $entry{$_} } @all);
my $d3 = digest($p3);
# site_d is no member of version 2: the members of version 2 sign
my %s3 = map { $_ => sign($_, $p3) } @first;
my $e3 = envelope($p3, [ map { [ $_, $s3{$_} ] } @first ], $e2);
publish('manifest.json', $e3);
is($net->sql('site_a', 'SELECT jsonb_array_length(' . quote($e3) . "::jsonb -> 'chain')"), '2',
	'version 3 carries versions 1 and 2 in its chain');
foreach my $site (@first)
{
	is($net->sql($site, 'SELECT version FROM scor.sync_network()'), '3', "$site syncs to version 3");
}
($out, $err) = join_at('site_d', $url, $d3);
is($out, '3|{site_a,site_b,site_c,site_d}|t', 'site_d joins at version 3, pinned by its digest');
map_users($_) foreach @all;
is(status($_), '3|site_a,site_b,site_c,site_d|t', "$_ follows version 3") foreach @all;
%nid = map { $_ => $net->network_id($_) } @all;
is(scalar(keys %{ { reverse %nid } }), 1, 'the four sites compute the same network id');

is($net->sql('site_a', $query), "$n|$los", "with site_d, the federated query is exact ($n, $los)");
is($net->sql('site_d', $query), "$n|$los", 'and the same when site_d coordinates');
is($net->sql('site_b', 'SELECT string_agg(version::text, \',\' ORDER BY version) FROM scor.network_manifest'),
	'1,2,3', 'site_b keeps the history of the versions it applied');

# ---- version 4 moves site_b: a new host and sslmode, so every other site
# alters its server in place and keeps the options it added itself ----
$net->sql('site_a', "ALTER SERVER site_b OPTIONS (ADD connect_timeout '7')");
my $port_b = $net->node('site_b')->port;
my $options_of = q{SELECT array_to_string(ARRAY(SELECT o FROM pg_foreign_server s, unnest(s.srvoptions) o
	WHERE s.srvname = '%s' ORDER BY 1), ',')};
is($net->sql('site_a', sprintf($options_of, 'site_b')),
	"connect_timeout=7,dbname=clinic,host=127.0.0.1,port=$port_b,site=site_b,sslmode=disable",
	"site_a's server for site_b before version 4");
my $server_c = $net->sql('site_a', sprintf($options_of, 'site_c'));
my $oid_b = $net->sql('site_a', "SELECT oid FROM pg_foreign_server WHERE srvname = 'site_b'");
$entry{site_b} = $net->sql('site_b', "SELECT scor.manifest_member('localhost', $port_b, 'clinic', 'prefer')");
my $p4 = payload(4, $d3, map { $entry{$_} } @all);
my $e4 = envelope($p4, [ map { [ $_, sign($_, $p4) ] } @all ], $e3);
publish('manifest.json', $e4);
foreach my $site (@all)
{
	is($net->sql($site, 'SELECT version || \'|\' || member_set_matches FROM scor.sync_network()'), '4|true',
		"$site syncs to version 4");
}
is($net->sql('site_a', sprintf($options_of, 'site_b')),
	"connect_timeout=7,dbname=clinic,host=localhost,port=$port_b,site=site_b,sslmode=prefer",
	"site_a's server for site_b has version 4's host and sslmode, and keeps its own connect_timeout");
is($net->sql('site_a', "SELECT oid FROM pg_foreign_server WHERE srvname = 'site_b'"), $oid_b,
	'the server was altered, not dropped and made again');
is($net->sql('site_a', "SELECT count(*) FROM pg_user_mappings WHERE srvname = 'site_b'"), '1',
	'and keeps its user mapping');
is($net->sql('site_a', sprintf($options_of, 'site_c')), $server_c, "site_c's server is untouched");
foreach my $site (qw(site_c site_d))
{
	is($net->sql($site, sprintf($options_of, 'site_b')),
		"dbname=clinic,host=localhost,port=$port_b,site=site_b,sslmode=prefer",
		"${site}'s server for site_b follows version 4");
}
is($net->sql('site_a', $query), "$n|$los", 'through the altered server, the federated query is exact');
is($net->sql('site_c', $query), "$n|$los", 'and the same when site_c coordinates');

$server->kill_kill;
$net->node($_)->stop foreach @all;

done_testing();
