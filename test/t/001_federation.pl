# Federated queries across three clusters, checked against the plaintext
# truth that only the test can see: each site's own count and sum.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ScorTest;

my $net = ScorTest->new(sites => [qw(site_a site_b site_c)]);
my @sites = $net->sites;

# Every site pinned the same three members, so all compute one network id
my %nid = map { $_ => $net->network_id($_) } @sites;
is($net->sql('site_a', 'SELECT members FROM scor.network_key()'), '3', 'the network has three members');
is(scalar(keys %{ { reverse %nid } }), 1, 'all three sites compute the same network id');

# Run a federated query at a site; rows as psql prints them (-XAt)
sub federate
{
	my ($site, $query, $columns, %opts) = @_;
	my $sql = "SELECT * FROM scor.federate(\$q\$ $query \$q\$) AS t($columns)"
	  . ($opts{order} ? " ORDER BY $opts{order}" : '');
	return $net->sql($site, $sql);
}

# The data has what the checks below rely on
is($net->sql('site_c', 'SELECT count(*) FROM admissions WHERE covid'), '0',
	'site_c has no COVID-19 admission (a site with no matching rows)');
is($net->sql('site_b', "SELECT count(*) FROM admissions WHERE ward = 'icu'"), '0',
	'site_b has no icu ward (a group some site lacks)');

# count and sum over a predicate that one site does not match at all
my $n = $net->total('SELECT count(*) FROM admissions WHERE covid');
my $los = $net->total('SELECT coalesce(sum(los), 0) FROM admissions WHERE covid');
is(federate('site_a', 'SELECT enc_count(*), enc_sum(los) FROM admissions WHERE covid', 'n bigint, los bigint'),
	"$n|$los", "count and sum of COVID-19 admissions are exact ($n, $los)");

# signed sums: the total is negative
my $delta = $net->total('SELECT sum(delta) FROM admissions');
cmp_ok($delta, '<', 0, 'the oracle total of delta is negative');
is(federate('site_a', 'SELECT enc_sum(delta) FROM admissions', 'delta bigint'),
	$delta, "a signed sum is exact ($delta)");

# no site has a matching row: zero, not an error or an empty result
is(federate('site_a', 'SELECT enc_count(*), enc_sum(los) FROM admissions WHERE los > 1000', 'n bigint, los bigint'),
	'0|0', 'count and sum are 0 when no site has a matching row');

# scaled numeric sums: exact decimals, compared in SQL against the truth
my @cost = map { $net->sql($_, 'SELECT sum(cost) FROM admissions') } @sites;
my $cost = $net->sql('site_a', 'SELECT ' . join(' + ', map { "${_}::numeric" } @cost));
is(federate('site_a', 'SELECT enc_sum(cost, 2) FROM admissions', 'cost numeric'),
	$cost, "a scaled numeric sum is exact ($cost)");
is(federate('site_a', 'SELECT enc_sum(cost, 2), enc_count(*) FROM admissions WHERE ward = \'surgery\'', 'cost numeric, n integer'),
	$net->sql('site_a', 'SELECT ' . join(' + ', map { my $v = $net->sql($_, "SELECT coalesce(sum(cost), 0) FROM admissions WHERE ward = 'surgery'"); "${v}::numeric" } @sites))
	  . '|' . $net->total("SELECT count(*) FROM admissions WHERE ward = 'surgery'"),
	'a scaled sum and a count declared as integer, over a predicate');

# GROUP BY: groups are combined across sites, including one only site_a has
my %groups;
foreach my $site (@sites)
{
	foreach my $row (split /\n/, $net->sql($site,
			'SELECT ward, count(*), sum(los), sum(delta) FROM admissions GROUP BY ward'))
	{
		my ($ward, @v) = split /\|/, $row;
		$groups{$ward}[$_] += $v[$_] for 0 .. $#v;
	}
}
my $expected_groups = join("\n", map { join('|', $_, @{ $groups{$_} }) } sort keys %groups);
my $grouped_query = 'SELECT ward, enc_count(*), enc_sum(los), enc_sum(delta) FROM admissions GROUP BY ward';
my $grouped_columns = 'ward text, n bigint, los bigint, delta bigint';
is(federate('site_a', $grouped_query, $grouped_columns, order => 'ward'),
	$expected_groups, 'GROUP BY ward is exact in every group');
like($expected_groups, qr/^icu\|/m, 'the icu group, which only site_a has, is in the result');

# strict_groups refuses a group that not every site answered
my ($out, $err) = $net->try_sql('site_a',
	"SELECT * FROM scor.federate(\$q\$ $grouped_query \$q\$, strict_groups => true) AS t($grouped_columns)");
like($err, qr/ERROR:  SC005: group \(icu\) was answered by 1 of the 3 sites/,
	'strict_groups refuses the icu group answered by one site only');

# a declared group domain makes every site answer every group
is(federate('site_a', q{
	SELECT d.ward, enc_count(a.id) FROM (VALUES ('icu'), ('medicine'), ('surgery')) d(ward)
	LEFT JOIN admissions a ON a.ward = d.ward GROUP BY d.ward}, 'ward text, n bigint', order => 'ward'),
	join("\n", map { "$_|$groups{$_}[0]" } sort keys %groups),
	'a declared group domain gives the same counts');

# GROUP BY with a second key and a NULL-free text key of another column
my %bands;
foreach my $site (@sites)
{
	foreach my $row (split /\n/, $net->sql($site,
			'SELECT age_band, covid, count(*) FROM admissions GROUP BY 1, 2'))
	{
		my ($band, $covid, $c) = split /\|/, $row;
		$bands{"$band|$covid"} += $c;
	}
}
is(federate('site_a', 'SELECT age_band, covid, enc_count(*) FROM admissions GROUP BY age_band, covid',
		'age_band text, covid boolean, n bigint', order => 'age_band, covid'),
	join("\n", map { "$_|$bands{$_}" } sort keys %bands),
	'GROUP BY two keys (text and boolean) is exact');

# NULL group keys are combined like any other key
my %nullkeys;
foreach my $site (@sites)
{
	foreach my $row (split /\n/, $net->sql($site,
			"SELECT nullif(ward, 'medicine'), count(*) FROM admissions GROUP BY 1"))
	{
		my ($w, $c) = split /\|/, $row, -1;
		$nullkeys{$w} += $c;
	}
}
is(federate('site_a', "SELECT nullif(ward, 'medicine') AS w, enc_count(*) FROM admissions GROUP BY 1",
		'w text, n bigint', order => 'w NULLS FIRST'),
	join("\n", map { "$_|$nullkeys{$_}" } sort keys %nullkeys),
	'a NULL group key is combined across sites and returned as NULL');

# the same query from each of the three sites gives the same rows
my $query = 'SELECT ward, enc_count(*), enc_sum(los), enc_sum(delta) FROM admissions GROUP BY ward';
foreach my $site (@sites)
{
	is(federate($site, $query, $grouped_columns, order => 'ward'),
		$expected_groups, "the grouped query coordinated by $site gives the same rows");
}

# every site logged each query it answered, once answered and once
# decrypted, except the one strict_groups refused: that was refused before
# any site decrypted it (the peers answered it; site_a's own part of it was
# rolled back with the analyst's statement)
foreach my $site (@sites)
{
	is($net->sql($site, 'SELECT count(*) > 0, count(*) - count(decrypted_at) FROM scor.query_log'),
		$site eq 'site_a' ? 't|0' : 't|1',
		"$site decrypted every query it answered, once, and not the refused one");
}

# An analyst who is not a superuser federates: the peers must have used the
# password of the user mapping, over TCP with SCRAM
my ($outcome) = $net->attempt('site_b',
	'SELECT * FROM scor.federate($q$ SELECT enc_count(*) FROM admissions WHERE covid $q$) AS t(n bigint)',
	user => 'analyst');
is($outcome, 'ok', 'a non-superuser analyst federates (peers authenticate with the mapping password)');
($out, $err) = $net->try_sql('site_b',
	'SELECT * FROM scor.federate($q$ SELECT enc_count(*) FROM admissions WHERE covid $q$) AS t(n bigint)',
	user => 'analyst');
is($out, $n, 'the analyst gets the exact count');
ok($net->node('site_a')->log_contains(
		qr/connection authenticated: identity="scor_peer" method=scram-sha-256/),
	'site_a authenticated its peers with SCRAM');

# a wrong password in the mapping is refused by the peer, naming the site
$net->sql('site_a', "ALTER USER MAPPING FOR PUBLIC SERVER site_c OPTIONS (SET password 'wrong')");
($out, $err) = $net->try_sql('site_a',
	'SELECT * FROM scor.federate($q$ SELECT enc_count(*) FROM admissions $q$) AS t(n bigint)');
like($err, qr/ERROR:  08001: could not connect to site "site_c".*password authentication failed for user "scor_peer"/s,
	'a wrong mapping password fails, naming site_c');
$net->sql('site_a',
	"ALTER USER MAPPING FOR PUBLIC SERVER site_c OPTIONS (SET password '$ScorTest::PEER_PASSWORD')");
is(federate('site_a', 'SELECT enc_count(*) FROM admissions WHERE covid', 'n bigint'),
	$n, 'with the right password again, the query succeeds');

# scor_peer_login, a login role granted scor_peer, serves as the peer login too
$net->sql('site_a', "ALTER USER MAPPING FOR PUBLIC SERVER site_b OPTIONS (SET user 'scor_peer_login')");
is(federate('site_a', 'SELECT enc_count(*), enc_sum(los) FROM admissions WHERE covid', 'n bigint, los bigint'),
	"$n|$los", 'a login role granted scor_peer works as the peer login');
ok($net->node('site_b')->log_contains(
		qr/connection authenticated: identity="scor_peer_login" method=scram-sha-256/),
	'site_b authenticated scor_peer_login with SCRAM');

# a scaled sum per group, where one site (site_c) has no group at all (last:
# while it fails, the peers keep answered but undecrypted query ids)
my %cents;
foreach my $site (@sites)
{
	foreach my $row (split /\n/, $net->sql($site,
			'SELECT ward, (sum(cost) * 100)::bigint FROM admissions WHERE covid GROUP BY ward'))
	{
		my ($w, $c) = split /\|/, $row;
		$cents{$w} += $c;
	}
}
# a site with no group has no ciphertext to give the column's scale
($out, $err) = $net->try_sql('site_a',
	'SELECT * FROM scor.federate($q$ SELECT ward, enc_sum(cost, 2) FROM admissions WHERE covid GROUP BY ward $q$) AS t(ward text, cost numeric) ORDER BY ward');
is($err, '', 'a grouped scaled sum works when one site has no group');
is($out, join("\n", map { sprintf('%s|%d.%02d', $_, int($cents{$_} / 100), $cents{$_} % 100) } sort keys %cents),
	'and is exact');

# The peer login's session is locked down for libpq's fast-path function
# calls too, which send no statement: the same call works for a superuser
{
	my $node_b = $net->node('site_b');
	my $int4pl = $node_b->safe_psql('clinic', q{SELECT 'pg_catalog.int4pl'::regproc::oid});
	my $tool = "$ENV{TESTDIR}/test/tools/scor_fastpath";
	my ($stdout, $stderr);
	IPC::Run::run([ $tool, $node_b->connstr('clinic'), $int4pl ], '>', \$stdout, '2>', \$stderr)
	  or die "scor_fastpath failed: $stderr";
	is($stdout, "result 3\n", 'a superuser calls int4pl(1, 2) through the fast-path interface (control)');
	IPC::Run::run([ $tool, $node_b->connstr('clinic') . ' user=scor_peer', $int4pl ],
		'>', \$stdout, '2>', \$stderr)
	  or die "scor_fastpath failed: $stderr";
	like($stdout, qr/^error: ERROR:  peer login "scor_peer" may only call scor's remote entry points/,
		'the peer login cannot call it that way');
}

foreach my $site (@sites)
{
	$net->node($site)->stop;
}

done_testing();
