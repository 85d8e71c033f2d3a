# Faults: a peer that dies, a peer that hangs, and a federated query that
# is cancelled.  Every failure is an ERROR that names the site, within the
# configured timeouts, and leaves the coordinator healthy.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ScorTest;

my $net = ScorTest->new(sites => [qw(site_a site_b site_c)]);
my ($node_a, $node_b, $node_c) = map { $net->node($_) } qw(site_a site_b site_c);

my $count_query = 'SELECT * FROM scor.federate($q$ SELECT enc_count(*) FROM admissions $q$) AS t(n bigint)';
my $total = $net->total('SELECT count(*) FROM admissions');

is($net->sql('site_a', $count_query), $total, 'before any fault, the federated count is exact');

#
# A peer killed with SIGKILL: the coordinator names it at once, stays
# healthy, and queries succeed again once the peer is back.
#
my @c_pids = split /\n/, $node_c->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity');
push @c_pids, ScorTest::postmaster_pid($node_c);
$node_c->kill9;
ok(ScorTest::wait_gone(@c_pids), 'every process of site_c is gone after kill -9');

my ($outcome, $ms, $alive) = $net->attempt('site_a', $count_query,
	setup => "SET scor.connect_timeout = '4000';");
like($outcome, qr/^08001: could not connect to site "site_c"/,
	'with site_c down, federate fails naming site_c');
cmp_ok($ms, '<', 4000, "it fails within scor.connect_timeout (${ms} ms < 4000 ms)");
like($alive, qr/^session alive: \d+/, 'the same session runs a local query after the failure');
($outcome) = $net->attempt('site_b', $count_query);
like($outcome, qr/^08001: could not connect to site "site_c"/,
	'federate at site_b fails naming site_c too');
is($net->sql('site_a', 'SELECT count(*) > 0 FROM admissions'), 't', 'the coordinator is healthy');

$node_c->start;
is($net->sql('site_a', $count_query), $total, 'after site_c restarts, the federated count is exact again');
is($net->sql('site_c', $count_query), $total, 'and site_c coordinates again');

#
# A peer whose postmaster hangs (SIGSTOP): new connections get no answer,
# so the coordinator gives up after scor.connect_timeout, naming the site.
#
my $c_postmaster = ScorTest::postmaster_pid($node_c);
ScorTest::sigstop($c_postmaster);
($outcome, $ms, $alive) = $net->attempt('site_a', $count_query,
	setup => "SET scor.connect_timeout = '2000';");
ScorTest::sigcont($c_postmaster);
like($outcome, qr/^08001: could not connect to site "site_c"/,
	'with site_c\'s postmaster frozen, federate fails naming site_c');
cmp_ok($ms, '>=', 1900, "it waited for scor.connect_timeout (${ms} ms)");
cmp_ok($ms, '<', 2000 + 8000, "and not much longer (${ms} ms)");
like($alive, qr/^session alive: \d+/, 'the session is healthy afterwards');
is($net->sql('site_a', $count_query), $total, 'after SIGCONT, the federated count is exact again');

#
# A peer that hangs in the middle of a query (its backend serving the
# coordinator, and its postmaster, frozen with SIGSTOP): the coordinator
# gives up after scor.peer_timeout, naming the site.
#
my $bg = $node_a->background_psql('clinic', on_error_stop => 0);
$bg->query_safe("SET scor.peer_timeout = '2000'");
is($bg->query_safe($count_query), $total, 'a session at site_a federates (and keeps its peer connections)');
my $scor_backends = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'scor' AND datname = 'clinic'";
ok($node_b->poll_query_until('clinic', $scor_backends, '1'),
	'site_b has exactly one backend serving a scor coordinator: the session\'s');
my $b_backend = $node_b->safe_psql('clinic',
	"SELECT pid FROM pg_stat_activity WHERE application_name = 'scor' AND datname = 'clinic'");
my $b_postmaster = ScorTest::postmaster_pid($node_b);
ScorTest::sigstop($b_backend);
ScorTest::sigstop($b_postmaster);
my $t0 = time;
my $line = $bg->query_safe("SELECT outcome || '|' || ms FROM public.attempt(\$s\$$count_query\$s\$)");
my $elapsed = time - $t0;
ScorTest::sigcont($b_postmaster);
ScorTest::sigcont($b_backend);
($outcome, $ms) = $line =~ /^(.*)\|(\d+)$/s;
like($outcome, qr/^08006: site "site_b" did not answer within 2000 ms/,
	'with site_b frozen mid-query, federate fails naming site_b after scor.peer_timeout');
cmp_ok($ms, '>=', 1900, "it waited for scor.peer_timeout (${ms} ms)");
cmp_ok($elapsed, '<', 12, sprintf('and failed within a few seconds (%.1f s)', $elapsed));
is($bg->query_safe('SELECT count(*) > 0 FROM admissions'), 't', 'the session runs a local query afterwards');
is($bg->query_safe($count_query), $total, 'after SIGCONT, the same session federates again');
$bg->quit;

#
# Cancelling a federated query cancels the remote ones: at site_b the
# shipped query waits for a lock that another session holds on the table it
# reads (at the other sites it returns at once), and the federate is
# cancelled at site_a.  (A shipped query cannot call a sleeping function:
# only built-in and scor functions, and no volatile one.)
#
my $locker = $node_b->background_psql('clinic');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE admissions IN ACCESS EXCLUSIVE MODE');
my $slow_query = $count_query;
my $remote_running = q{SELECT count(*) FROM pg_stat_activity
	WHERE application_name = 'scor' AND state = 'active' AND query LIKE '%remote_contribute%'};

foreach my $how ('pg_cancel_backend', 'statement_timeout')
{
	my $log_offset = -s $node_b->logfile;
	$bg = $node_a->background_psql('clinic', on_error_stop => 0);
	$bg->query_safe("SET application_name = 'federating'");
	$bg->query_safe("SET statement_timeout = '5s'") if $how eq 'statement_timeout';
	$bg->query_until(qr/started/, "\\echo started\n$slow_query;\n");
	ok($node_b->poll_query_until('clinic', $remote_running, '1'),
		"$how: site_b runs the shipped query");
	if ($how eq 'pg_cancel_backend')
	{
		is($node_a->safe_psql('clinic',
				"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'federating'"),
			't', 'the federated query is cancelled at site_a');
	}
	# the error reaches the session; then it answers again
	my ($out, $err) = $bg->query('SELECT 42');
	like($bg->{stderr}, qr/canceling statement due to (user request|statement timeout)/,
		"$how: the federated query was cancelled");
	$bg->{stderr} = '';
	is($out, '42', "$how: the coordinator's session is healthy afterwards");
	ok($node_b->poll_query_until('clinic', $remote_running, '0'),
		"$how: site_b no longer runs the shipped query (the remote query was cancelled)");
	ok($node_b->log_contains(
			qr/ERROR:  canceling statement due to user request(?:\n.*){0,8}?STATEMENT:  SELECT scor\.remote_contribute/,
			$log_offset),
		"$how: site_b's log shows the shipped query cancelled");
	$bg->quit;
}
$locker->query_safe('COMMIT');
$locker->quit;
is($net->sql('site_a', $slow_query), $total, 'with site_b fast again, the query succeeds');

#
# The peer's backend killed (kill -9) while it runs the shipped query: the
# coordinator's error names the site as soon as the connection breaks (far
# within scor.peer_timeout), and once the peer has recovered from the crash
# the same session federates again.
#
{
	# as in production (the test harness turns it off): site_b's postmaster
	# reinitializes after a backend crash
	$node_b->append_conf('postgresql.conf', 'restart_after_crash = on');
	$node_b->reload;
	# the shipped query waits for a lock again; the crash ends this session too
	my $crash_locker = $node_b->background_psql('clinic', on_error_stop => 0);
	$crash_locker->query_safe('BEGIN');
	$crash_locker->query_safe('LOCK TABLE admissions IN ACCESS EXCLUSIVE MODE');
	$bg = $node_a->background_psql('clinic', on_error_stop => 0);
	$bg->query_safe("SET scor.peer_timeout = '60000'");
	$bg->query_until(qr/started/, "\\echo started\n$slow_query;\n");
	ok($node_b->poll_query_until('clinic', $remote_running, '1'),
		'kill -9: site_b runs the shipped query');
	my $victim = $node_b->safe_psql('clinic', q{SELECT pid FROM pg_stat_activity
		WHERE application_name = 'scor' AND state = 'active' AND query LIKE '%remote_contribute%'});
	like($victim, qr/^\d+$/, "kill -9: the backend of site_b that runs it is pid $victim");
	my $t_kill = time;
	kill('KILL', $victim) or die "cannot kill $victim: $!";
	my ($out) = $bg->query('SELECT 42');
	my $elapsed = time - $t_kill;
	like($bg->{stderr}, qr/ERROR:  lost connection to site "site_b"/,
		'kill -9: the federated query fails naming site_b ("lost connection to site")');
	cmp_ok($elapsed, '<', 10, sprintf('kill -9: within seconds of the kill (%.1f s), not after scor.peer_timeout', $elapsed));
	is($out, '42', 'kill -9: the coordinator\'s session answers its next statement');
	$bg->{stderr} = '';
	# (pg_isready, not psql: psql would die writing to a server in recovery)
	my $ready = 0;
	foreach (1 .. 10 * 60)
	{
		last if ($ready = run_log([ 'pg_isready', '-q', '-d', $node_b->connstr('clinic') ]));
		select(undef, undef, undef, 0.1);
	}
	ok($ready, 'kill -9: site_b recovers from the crash');
	$crash_locker->quit;
	is($bg->query_safe($count_query), $total, 'kill -9: the same session\'s next federated query is exact');
	$bg->quit;
}

#
# A peer restarted (pg_ctl restart) under a long-lived coordinator session:
# the session's cached connection to it was closed by the peer while idle.
# The coordinator detects that before using it and connects afresh, so the
# next federated query succeeds transparently (it does not fail once).
#
{
	$bg = $node_a->background_psql('clinic', on_error_stop => 0);
	is($bg->query_safe($count_query), $total, 'restart: a long-lived session federates');
	ok($node_b->poll_query_until('clinic', $scor_backends, '1'),
		'restart: site_b serves that session over one connection');
	my $before = $node_b->safe_psql('clinic',
		"SELECT pid FROM pg_stat_activity WHERE application_name = 'scor' AND datname = 'clinic'");
	is($bg->query_safe($count_query), $total, 'restart: the session federates again');
	is($node_b->safe_psql('clinic',
			"SELECT pid FROM pg_stat_activity WHERE application_name = 'scor' AND datname = 'clinic'"),
		$before, 'restart: over the same, cached connection to site_b');
	$node_b->restart;
	my ($out, $ret) = $bg->query($count_query);
	is($bg->{stderr}, '', 'restart: the session\'s next federated query after site_b restarted raises no error');
	is($out, $total, 'restart: and is exact');
	my $after = $node_b->safe_psql('clinic',
		"SELECT pid FROM pg_stat_activity WHERE application_name = 'scor' AND datname = 'clinic'");
	like($after, qr/^\d+$/, 'restart: site_b serves the session over one connection again');
	isnt($after, $before, 'restart: a new one');
	$bg->quit;
}

# nothing is left behind, and the network works
is($net->sql('site_a', $slow_query), $total, 'after the crash and the restart, the query succeeds');
foreach my $site (qw(site_a site_b site_c))
{
	is($net->node($site)->safe_psql('clinic',
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'scor' AND state = 'active'"),
		'0', "no scor query is left running at $site");
}

$_->stop foreach ($node_a, $node_b, $node_c);

done_testing();
