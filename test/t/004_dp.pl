# Differential privacy across three clusters: the noisy totals scatter around
# the truth with the variance scor.dp_expected_error predicts; the budget
# ledgers of all sites admit exactly the same queries under concurrency;
# each site enforces its own ledger; and the superuser-only test seed can
# neither be set by the peer login nor make a site's share deterministic
# while it answers a peer.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ScorTest;

my $t_start = time;
my $net = ScorTest->new(sites => [qw(site_a site_b site_c)]);
my @sites = $net->sites;
my $node_a = $net->node('site_a');

# A federated query in a form the tests can run from a script, and the truth
my $shipped = 'SELECT dp_noise(enc_count(*), %s) FROM admissions WHERE covid';
sub dp_federate
{
	my ($epsilon) = @_;
	return sprintf("SELECT n FROM scor.federate(\$q\$ $shipped \$q\$) AS t(n bigint)", $epsilon);
}
my $truth = $net->total('SELECT count(*) FROM admissions WHERE covid');
is($truth, 575, 'the oracle count of COVID-19 admissions is 575 (400 + 175 + 0)');

# An analyst at site_a (login, scor_analyst, may read admissions and use
# the peers' servers); its budget at the peers is just a row there
sub add_analyst
{
	my ($role) = @_;
	$net->sql('site_a', qq{
CREATE ROLE $role LOGIN IN ROLE scor_analyst;
GRANT SELECT ON admissions TO $role;
GRANT USAGE ON FOREIGN SERVER site_b, site_c TO $role;
});
	return;
}

# At a site, the budget row of (site_a, role) as "budget|spent" (numeric
# compared exactly in SQL: 1 stands for any 1.000...)
sub ledger
{
	my ($site, $role) = @_;
	return $net->sql($site, qq{
SELECT budget::float8 || '|' || spent::float8 FROM scor.privacy_budget
WHERE coordinator = 'site_a' AND analyst = '$role'});
}

# Run a statement as a role at site_a and report SQLSTATE, message and
# detail (a refusal's detail says how much budget is left)
$net->sql('site_a', q{
CREATE FUNCTION public.dp_attempt(stmt text) RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
	st text;
	msg text;
	det text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	RETURN st || ': ' || msg || ' | ' || coalesce(det, '');
END
$fn$;
GRANT EXECUTE ON FUNCTION public.dp_attempt(text) TO PUBLIC;
});
sub dp_attempt
{
	my ($role, $stmt) = @_;
	(my $quoted = $stmt) =~ s/'/''/g;
	my ($out, $err);
	$node_a->psql('clinic', "SET client_min_messages = warning;\nSELECT public.dp_attempt('$quoted');",
		stdout => \$out, stderr => \$err, on_error_stop => 1,
		extra_params => [ '-U', $role ]);
	die "dp_attempt as $role failed: $err" unless defined $out && $out ne '';
	return $out;
}

#
# 1. The noisy totals scatter with the predicted variance.
#
# Every one of N queries adds three shares NB(1/t, 1 - e^-eps) -
# NB(1/t, 1 - e^-eps) (t = 2 of n = 3), so the total's error is
# NB(3/2, p) - NB(3/2, p), p = 1 - e^-eps, of variance (n/t) 2q/p^2,
# q = e^-eps, and excess kurtosis (1 + 4q + q^2) / (2 (n/t) q) (its
# cumulants: k2 = 2 beta q/p^2, k4 = 2 beta q (1 + 4q + q^2)/p^4): 2.36 at
# eps = 1 (3.5 for a discrete Laplace, t = n).  The sample variance then
# has a standard error of var sqrt((kappa - 1)/N); we take kappa = 6, above
# either, and accept within 5 standard errors.
#
# What this can and cannot tell apart, at N = 1200: the band is
# [1 - 5 s, 1 + 5 s] x predicted with s = sqrt(5/N) = 0.065, i.e. [0.68,
# 1.32].  No noise (variance 0), or a third of the noise (one site's share
# alone), fails for certain.  t = 1 (every site adding a full discrete
# Laplace, variance 2x) fails with probability 1 - 1e-7: its sample
# variance is 2 +- 0.13, more than 5 of its standard errors above 1.32.
# t = 3 (2/3 of the variance) is at the lower edge of the band; the share
# of exact totals below rejects it.  The test cannot tell apart shapes with
# the same variance and the same P(0), nor differences of variance below
# about 30 %; the exactness of the sampler is for the unit tests.
#
my $N = $ENV{SCOR_DP_N} || 1200;
my $epsilon = 1.0;
my ($honest, $sd) = split /\|/, $net->sql('site_a',
	"SELECT honest_sites, standard_deviation FROM scor.dp_expected_error(3, $epsilon)");
is($honest, 2, 'dp_expected_error uses t = 2 honest sites for a network of three');
my $predicted = $sd * $sd;
my $q = exp(-$epsilon);
my $beta = 3 / $honest;
cmp_ok(abs($predicted - $beta * 2 * $q / (1 - $q)**2), '<', 1e-9 * $predicted,
	sprintf('the predicted variance is (n/t) 2q/p^2 = %.4f', $predicted));
my $kurtosis = 3 + (1 + 4 * $q + $q * $q) / (2 * $beta * $q);
cmp_ok($kurtosis, '<=', 6, sprintf('the kurtosis of the noise (%.2f) is at most the 6 the tolerance assumes', $kurtosis));

add_analyst('analyst_dp');
$net->sql($_, "SELECT scor.grant_budget('site_a', 'analyst_dp', 1e6)") foreach @sites;

# N queries in a few psql sessions, each statement its own transaction;
# the sessions run two at a time (the sites' work is mostly sequential)
my $sessions = 4;
my @outputs;
my $t0 = time;
foreach my $s (0 .. $sessions - 1)
{
	my $count = int($N / $sessions) + ($s < $N % $sessions ? 1 : 0);
	my $script = "SET client_min_messages = warning;\n"
	  . (dp_federate($epsilon) . ";\n") x $count;
	$outputs[$s] = { in => $script, out => '', err => '' };
}
# two concurrent streams at a time
for (my $s = 0; $s < $sessions; $s += 2)
{
	my @running;
	foreach my $k ($s, $s + 1)
	{
		next if $k >= $sessions;
		push @running, IPC::Run::start(
			[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-h', $node_a->host,
			  '-p', $node_a->port, '-U', 'analyst_dp', '-d', 'clinic' ],
			'<', \$outputs[$k]{in}, '>', \$outputs[$k]{out}, '2>', \$outputs[$k]{err});
	}
	$_->finish foreach @running;
}
my $elapsed = time - $t0;
my $errors = join('', map { $_->{err} } @outputs);
is($errors, '', 'every DP query ran without error');
my @totals = map { split /\n/, $_->{out} } @outputs;
is(scalar @totals, $N, "$N noisy totals");
is(scalar(grep { !/^-?\d+$/ } @totals), 0, 'every noisy total is an integer');
note sprintf('%d federated DP queries in %.1f s (%.0f ms each, two streams)',
	$N, $elapsed, 1000 * $elapsed / $N);

my @err = map { $_ - $truth } @totals;
my $mean = 0;
$mean += $_ / $N foreach @err;
my $var = 0;
$var += ($_ - $mean)**2 / ($N - 1) foreach @err;
my $mean_tol = 6 * $sd / sqrt($N);
my $kappa = $kurtosis < 6 ? 6 : $kurtosis;
my $var_se = $predicted * sqrt(($kappa - 1) / $N);
diag(sprintf('DP scatter: N = %d, mean error %.4f (tolerance %.4f), variance %.4f, predicted %.4f (ratio %.3f, 5 SE = %.4f)',
	$N, $mean, $mean_tol, $var, $predicted, $var / $predicted, 5 * $var_se));
cmp_ok(abs($mean), '<=', $mean_tol,
	sprintf('the mean error %.3f is within 6 sigma/sqrt(N) = %.3f of 0', $mean, $mean_tol));
cmp_ok(abs($var - $predicted), '<=', 5 * $var_se,
	sprintf('the variance %.3f is within 5 standard errors (%.3f) of the predicted %.3f',
		$var, 5 * $var_se, $predicted));
cmp_ok($var, '>', 0.3 * $predicted, 'the totals are noisy (the variance is not that of no or little noise)');
cmp_ok($var, '<', 2 * $predicted, 'the variance is less than that of t = 1 (two times the predicted)');
my $pos = grep { $_ > 0 } @err;
my $neg = grep { $_ < 0 } @err;
my $nonzero = $pos + $neg;
cmp_ok(abs($pos - $nonzero / 2), '<=', 6 * sqrt($nonzero) / 2,
	"the errors are symmetric: $pos positive, $neg negative (within 6 sigma)");
# The share of exact totals is P(Z = 0) = sum_k P(X = k)^2, X ~ NB(beta, p):
# 0.349 at eps = 1, t = 2; 0.206 for t = 1 (beta = 3); 0.462 for t = 3 (a
# single discrete Laplace in the total, beta = 1, variance 2/3 of the
# predicted, which the variance band alone would not reliably reject); 1
# without noise.  At N = 1200 the binomial standard error is 0.014, so the
# 5-sigma band [0.28, 0.42] rejects t = 1 for certain (6 of its standard
# errors away) and t = 3 with probability 0.999.
my $p0 = 0;
{
	my $pk = (1 - $q)**$beta;
	foreach my $k (0 .. 400)
	{
		$p0 += $pk * $pk;
		$pk *= ($k + $beta) / ($k + 1) * $q;
	}
}
my $zeros = $N - $nonzero;
my $zero_tol = 5 * sqrt($p0 * (1 - $p0) / $N);
diag(sprintf('exact totals (zero error): %d of %d = %.3f, predicted P(Z = 0) = %.3f (5 SE = %.3f)',
	$zeros, $N, $zeros / $N, $p0, $zero_tol));
cmp_ok(abs($zeros / $N - $p0), '<=', $zero_tol,
	sprintf('the share of exact totals %.3f is within 5 standard errors (%.3f) of P(Z = 0) = %.3f',
		$zeros / $N, $zero_tol, $p0));

#
# 2. The budget ledgers under concurrency: every site grants (site_a,
# analyst_conc) exactly 10 x 0.1; 16 concurrent queries of 0.1 each from
# site_a: exactly 10 succeed at every site, 6 are refused with SC007 by
# site_a itself (it charges its own ledger first, holding the row lock until
# the query commits, so the peers see the admitted queries one at a time).
# The 16 sessions wait on an advisory lock the test holds, then all start.
#
add_analyst('analyst_conc');
foreach my $site (@sites)
{
	# a grant adds to the budget: 0.5 + 0.5 = 1, then nothing spent
	$net->sql($site, q{
SELECT scor.grant_budget('site_a', 'analyst_conc', 0.5);
SELECT scor.grant_budget('site_a', 'analyst_conc', 0.5);
SELECT scor.reset_budget('site_a', 'analyst_conc');
});
	is(ledger($site, 'analyst_conc'), '1|0', "$site: the budget of (site_a, analyst_conc) is exactly 1, none spent");
}
my %audit_before = map {
	$_ => $net->sql($_, 'SELECT coalesce(max(seq), 0) FROM scor.audit_log')
} @sites;

my $conc_query = dp_federate(0.1);
(my $conc_quoted = $conc_query) =~ s/'/''/g;
my $holder = $node_a->background_psql('clinic', on_error_stop => 1);
$holder->query_safe('SELECT pg_advisory_lock(4242)');
my @workers;
foreach my $i (1 .. 16)
{
	my $bg = $node_a->background_psql('clinic', on_error_stop => 0,
		extra_params => [ '-U', 'analyst_conc' ]);
	$bg->query_safe('SET client_min_messages = warning');
	$bg->query_safe("SET application_name = 'dp_worker_$i'");
	# wait for the test's lock, then all go at once
	$bg->query_until(qr/waiting/, "\\echo waiting\nSELECT pg_advisory_lock_shared(4242) \\g /dev/null\n"
		  . "SELECT 'R|' || public.dp_attempt('$conc_quoted');\n");
	push @workers, $bg;
}
ok($node_a->poll_query_until('clinic', q{
SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name LIKE 'dp_worker_%'}, '16'),
	'16 sessions of analyst_conc wait to start their DP query');
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
my @outcomes;
foreach my $bg (@workers)
{
	my $out = $bg->query('SELECT 1');
	my ($line) = $out =~ /^R\|(.*)$/m;
	push @outcomes, $line // "no outcome: $out $bg->{stderr}";
	$bg->quit;
}
$holder->quit;
my @ok = grep { $_ eq 'ok' } @outcomes;
my @refused = grep { $_ ne 'ok' } @outcomes;
is(scalar @ok, 10, '10 of the 16 concurrent queries succeed');
is(scalar @refused, 6, '6 are refused');
is(scalar(grep {
	/^SC007: privacy budget of analyst "analyst_conc" at site "site_a" is exhausted \| The query needs epsilon 0\.1; 0(?:\.0*)? of 1(?:\.0*)? remain\.$/
} @refused), 6, 'each refusal is SC007 naming the analyst and the site, and saying that 0 of 1 remains')
  or diag(join("\n", @refused));
foreach my $site (@sites)
{
	is(ledger($site, 'analyst_conc'), '1|1', "$site: spent is exactly 1 (the ledgers agree)");
	is($net->sql($site, qq{
SELECT count(*) FROM scor.audit_log
WHERE seq > $audit_before{$site} AND event = 'budget' AND epsilon = 0.1
  AND peer = 'site_a' AND analyst = 'analyst_conc'}), '10',
		"$site: the audit log has exactly 10 budget charges of 0.1 for analyst_conc");
	is($net->sql($site, 'SELECT ok FROM scor.verify_audit_log()'), 't', "$site: the audit log verifies");
}

#
# 3. Each site enforces its own ledger: site_b grants analyst_b 0.2, the
# others 1; the third query of 0.1 is refused by site_b.
#
add_analyst('analyst_b');
$net->sql($_, "SELECT scor.grant_budget('site_a', 'analyst_b', " . ($_ eq 'site_b' ? '0.2' : '1') . ')')
  foreach @sites;
is(dp_attempt('analyst_b', dp_federate(0.1)), 'ok', 'site_b\'s budget of 0.2 admits a first query of 0.1');
is(dp_attempt('analyst_b', dp_federate(0.1)), 'ok', 'and a second');
like(dp_attempt('analyst_b', dp_federate(0.1)),
	qr/^SC007: site "site_b" returned an error: privacy budget of analyst "analyst_b" at site "site_a" is exhausted \| The query needs epsilon 0\.1; 0(?:\.0*)? of 0\.20* remain\.$/,
	'the third is refused by site_b, saying that 0 of its 0.2 remains');
# the coordinator answers (and charges) first, in a transaction of its own,
# before any peer is asked: a charge is never refunded
is(ledger('site_a', 'analyst_b'), '1|0.3', 'site_a, which admitted all three, is charged for all three');
is(ledger('site_b', 'analyst_b'), '0.2|0.2', 'site_b has spent its 0.2');
my $c_spent = (split /\|/, ledger('site_c', 'analyst_b'))[1];
note "site_c spent $c_spent after the refused query (0.3 if it answered before site_b refused)";
like($c_spent, qr/^0\.[23]$/, 'site_c was charged the two released queries, and at most the refused one');

#
# 3b. The coordinator's own charge must survive the analyst's transaction:
# the total is released to the analyst when federate returns, so rolling
# back the transaction (or a subtransaction: an exception block) must not
# undo site_a's charge or its audit record.  The peers' charges commit on
# their own connections.
#
add_analyst('analyst_rb');
$net->sql($_, "SELECT scor.grant_budget('site_a', 'analyst_rb', 1)") foreach @sites;
$net->sql('site_a', q{
CREATE FUNCTION public.dp_then_fail() RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
	v bigint;
BEGIN
	BEGIN
		SELECT t.n INTO v FROM scor.federate($q$ SELECT dp_noise(enc_count(*), 0.1) FROM admissions WHERE covid $q$) AS t(n bigint);
		RAISE EXCEPTION 'released %', v;
	EXCEPTION WHEN raise_exception THEN
		RETURN SQLERRM;
	END;
END
$fn$;
GRANT EXECUTE ON FUNCTION public.dp_then_fail() TO analyst_rb;
});
my $audit_a = $net->sql('site_a', 'SELECT coalesce(max(seq), 0) FROM scor.audit_log');
my $rolled_back = $node_a->safe_psql('clinic',
	"SET client_min_messages = warning;\nBEGIN;\n" . dp_federate(0.1) . ";\nROLLBACK;",
	extra_params => [ '-U', 'analyst_rb' ]);
like($rolled_back, qr/^-?\d+$/, "a DP total is released inside a transaction that is then rolled back ($rolled_back)");
my $in_block = $node_a->safe_psql('clinic', 'SET client_min_messages = warning; SELECT public.dp_then_fail()',
	extra_params => [ '-U', 'analyst_rb' ]);
like($in_block, qr/^released -?\d+$/, "and inside an exception block that is then rolled back ($in_block)");
foreach my $site (qw(site_b site_c))
{
	is(ledger($site, 'analyst_rb'), '1|0.2', "$site charged both released queries");
}
# the coordinator's own part commits on its own, as a peer's does
is(ledger('site_a', 'analyst_rb'), '1|0.2', 'site_a charged both released queries');
is($net->sql('site_a', qq{
SELECT count(*) FROM scor.audit_log
WHERE seq > $audit_a AND event = 'budget' AND analyst = 'analyst_rb'}), '2',
	'site_a\'s audit log records both charges');

#
# 3c. The coordinator decides from the parsed query, not its text, that its
# own part charges a budget: a template (whose call names no dp_noise) and
# a Unicode-escaped dp_noise are answered in a transaction of their own too,
# so a rollback keeps site_a's charge and its audit record.
#
add_analyst('analyst_tpl');
foreach my $site (@sites)
{
	$net->sql($site, q{
INSERT INTO scor.query_template (name, query, param_types)
VALUES ('dp_covid_after', 'SELECT dp_noise(enc_count(*), 0.1) FROM admissions WHERE covid AND id > $1', '{integer}');
SELECT scor.grant_budget('site_a', 'analyst_tpl', 1);
});
}
$audit_a = $net->sql('site_a', 'SELECT coalesce(max(seq), 0) FROM scor.audit_log');
$rolled_back = $node_a->safe_psql('clinic', q{SET client_min_messages = warning;
BEGIN;
SELECT n FROM scor.federate_template('dp_covid_after', '{0}') AS t(n bigint);
ROLLBACK;}, extra_params => [ '-U', 'analyst_tpl' ]);
like($rolled_back, qr/^-?\d+$/, "a DP template total is released in a transaction then rolled back ($rolled_back)");
is(ledger('site_a', 'analyst_tpl'), '1|0.1', 'site_a keeps its charge for the template query');
$rolled_back = $node_a->safe_psql('clinic', q{SET client_min_messages = warning;
BEGIN;
SELECT n FROM scor.federate($q$ SELECT U&"dp\005fnoise"(enc_count(*), 0.1) FROM admissions WHERE covid $q$) AS t(n bigint);
ROLLBACK;}, extra_params => [ '-U', 'analyst_tpl' ]);
like($rolled_back, qr/^-?\d+$/, "a total noised by a Unicode-escaped dp_noise is released, then rolled back ($rolled_back)");
is(ledger('site_a', 'analyst_tpl'), '1|0.2', 'site_a keeps its charge for the Unicode-escaped query too');
is($net->sql('site_a', qq{
SELECT count(*) FROM scor.audit_log
WHERE seq > $audit_a AND event = 'budget' AND analyst = 'analyst_tpl' AND epsilon = 0.1}), '2',
	'site_a\'s audit log records both charges');
foreach my $site (qw(site_b site_c))
{
	is(ledger($site, 'analyst_tpl'), '1|0.2', "$site charged both");
}

#
# 3d. A group that fewer than t sites answer carries fewer than the t noise
# shares its epsilon needs: every site refuses to decrypt it.  Only site_a
# has the icu ward; t = 2.  Declaring the ward domain makes every site
# answer every group.
#
my %log_offset = map { $_ => -s $net->node($_)->logfile } qw(site_b site_c);
my ($gout, $gerr) = $net->try_sql('site_a', q{
SELECT * FROM scor.federate($q$ SELECT ward, dp_noise(enc_count(*), 0.1) FROM admissions GROUP BY ward $q$)
	AS t(ward text, n bigint)}, user => 'analyst_dp');
like($gerr, qr/ERROR:  SC005: group \(icu\) was answered by 1 site, fewer than the 2 whose noise shares its differential privacy needs/,
	'a noised group answered by 1 site of 3 (t = 2) is refused');
like($gerr, qr/Declare the group domain/, 'and the error points to the declared group domain');
# each peer refuses on its own too, whatever a coordinator does
foreach my $site (qw(site_b site_c))
{
	ok($net->node($site)->wait_for_log(qr/group \(icu\) was answered by 1 site, fewer than the 2/,
			$log_offset{$site}),
		"$site refused to decrypt the icu group itself");
}
my $domain_groups = $node_a->safe_psql('clinic', q{
SET client_min_messages = warning;
SELECT ward, n IS NOT NULL FROM scor.federate($q$
	SELECT d.ward, dp_noise(enc_count(a.id), 0.1)
	FROM (VALUES ('icu'), ('medicine'), ('surgery')) d(ward) LEFT JOIN admissions a ON a.ward = d.ward
	GROUP BY d.ward $q$) AS t(ward text, n bigint) ORDER BY ward}, extra_params => [ '-U', 'analyst_dp' ]);
is($domain_groups, "icu|t\nmedicine|t\nsurgery|t", 'with the ward domain declared, every group is released');

#
# 4. The test seed: not settable by the peer login; and set by a superuser
# at every site, it does not make any site's share deterministic while the
# site answers a federated query.
#
my $seed = '01' x 32;
# the peer login's sessions are locked down from their start (scor is in its
# session_preload_libraries): it can set nothing at all
my ($out, $err) = $net->try_sql('site_b', "SET scor.dp_test_seed = '$seed';", user => 'scor_peer');
like($err, qr/ERROR:  42501: peer login "scor_peer" may only call scor's remote entry points/,
	'the peer login cannot set scor.dp_test_seed');
($out, $err) = $net->try_sql('site_b',
	"SELECT set_config('scor.dp_test_seed', '$seed', false);", user => 'scor_peer');
like($err, qr/ERROR:  42501: peer login "scor_peer" may only call scor's remote entry points/,
	'nor with set_config');
# another login, in whose session scor is not preloaded: SET only makes a
# placeholder; loading scor drops that login's value with a warning
my $load = 'SELECT count(*) FROM scor.network_key();';
($out, $err) = $net->try_sql('site_b', "SET scor.dp_test_seed = '$seed';\n$load", user => $ScorTest::ANALYST);
like($err, qr/WARNING:  42501: permission denied to set parameter "scor.dp_test_seed"/,
	'a value a non-superuser set before scor was loaded is refused when it loads');
is($net->sql('site_b', qq{
SET ROLE scor_peer;
SET scor.dp_test_seed = '$seed';
RESET ROLE;
SET client_min_messages = error;
LOAD 'scor';
SELECT current_setting('scor.dp_test_seed') = '';
}), 't', 'and is not in effect afterwards');

foreach my $site (@sites)
{
	$net->sql($site, "LOAD 'scor'; ALTER SYSTEM SET scor.dp_test_seed = '$seed'; SELECT pg_reload_conf();");
	ok($net->node($site)->poll_query_until('clinic', "SELECT current_setting('scor.dp_test_seed') FROM scor.network_key()", $seed),
		"$site: a superuser set scor.dp_test_seed for every session");
}
# a one-site network shows what the seed does to a local query: the first
# draw of every session is the same
my $solo = ScorTest->new(sites => ['site_solo']);
$solo->sql('site_solo', "LOAD 'scor'; ALTER SYSTEM SET scor.dp_test_seed = '$seed'; SELECT pg_reload_conf();");
ok($solo->node('site_solo')->poll_query_until('clinic', "SELECT current_setting('scor.dp_test_seed') FROM scor.network_key()", $seed),
	'site_solo: the seed is set');
my $local = 'SET search_path = public, scor; SELECT decrypt(dp_noise(enc_count(*), 0.01)) - count(*) FROM admissions';
my @local = map { $solo->sql('site_solo', $local) } 1 .. 3;
is(scalar(keys %{ { map { $_ => 1 } @local } }), 1,
	"with the seed, a local dp_noise is the same in every session (@local)");
$solo->node('site_solo')->stop;

# federated, epsilon 0.01 (standard deviation 172: the chance that five
# totals of honest noise are all equal is below 1e-9), each run in a new
# session at site_a, and so new backends at the peers
my @seeded = map {
	$node_a->safe_psql('clinic', "SET client_min_messages = warning;\n" . dp_federate(0.01),
		extra_params => [ '-U', 'analyst_dp' ])
} 1 .. 5;
is(scalar(grep { /^-?\d+$/ } @seeded), 5, 'five federated totals with the seed set at every site');
cmp_ok(scalar(keys %{ { map { $_ => 1 } @seeded } }), '>', 1,
	"they are not all the same (@seeded): no site used the seed while answering");
# the sum varying shows only that some site did not use the seed; per site
# (each site's own total released with its full share), each site's own
# total must vary from run to run
foreach my $site (@sites)
{
	$net->sql($site, "LOAD 'scor'; ALTER SYSTEM SET scor.allow_per_site = on; "
		  . "ALTER SYSTEM SET scor.min_cell = 1; SELECT pg_reload_conf();");
	ok($net->node($site)->poll_query_until('clinic',
			"SELECT current_setting('scor.allow_per_site') || current_setting('scor.min_cell') FROM scor.network_key()", 'on1'),
		"$site: per-site release allowed, with a threshold of 1");
}
my %own;
foreach my $run (1 .. 5)
{
	my $rows = $node_a->safe_psql('clinic', q{SET client_min_messages = warning;
SELECT site || '|' || coalesce(n::text, 'NULL') FROM scor.federate(
	$q$ SELECT dp_noise(enc_count(*), 0.01) FROM admissions $q$, per_site => true) AS t(site text, n bigint)
ORDER BY site}, extra_params => [ '-U', 'analyst_dp' ]);
	foreach my $row (split /\n/, $rows)
	{
		my ($site, $n) = split /\|/, $row;
		push @{ $own{$site} }, $n;
	}
}
foreach my $site (@sites)
{
	is(scalar(grep { /^-?\d+$/ } @{ $own{$site} || [] }), 5, "$site: five per-site totals of its own");
	cmp_ok(scalar(keys %{ { map { $_ => 1 } @{ $own{$site} || [] } } }), '>', 1,
		"$site: its own total varies (@{ $own{$site} || [] }): it did not use the seed while answering");
}
foreach my $site (@sites)
{
	$net->sql($site, "LOAD 'scor'; ALTER SYSTEM RESET scor.allow_per_site; ALTER SYSTEM RESET scor.min_cell; SELECT pg_reload_conf();");
}
foreach my $site (@sites)
{
	$net->sql($site, "LOAD 'scor'; ALTER SYSTEM RESET scor.dp_test_seed; SELECT pg_reload_conf();");
}

note sprintf('004_dp.pl ran in %.1f s', time - $t_start);
foreach my $site (@sites)
{
	$net->node($site)->stop;
}

done_testing();
