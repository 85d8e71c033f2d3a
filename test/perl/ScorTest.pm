# ScorTest.pm
#	  A scor network of several PostgreSQL clusters for the TAP tests.
#
# Every site is its own cluster (PostgreSQL::Test::Cluster) with a database
# "clinic", the scor extension, a site key, and a table "admissions" whose
# deterministic data differs per site.  Peers reach each other over TCP on
# 127.0.0.1 with SCRAM password authentication (the harness itself uses the
# clusters' Unix sockets with trust), each site declaring every other one
# with the statements of scor's SQL surface:
#
#   CREATE SERVER site_b FOREIGN DATA WRAPPER scor
#       OPTIONS (host '127.0.0.1', port '5433', dbname 'clinic');
#   CREATE USER MAPPING FOR PUBLIC SERVER site_b
#       OPTIONS (user 'scor_peer', password '...');
#   SELECT scor.add_peer('site_b');
#
#   my $net = ScorTest->new(sites => [qw(site_a site_b site_c)]);
#   my $a = $net->node('site_a');
#   $net->sql('site_a', 'SELECT ...');
package ScorTest;

use strict;
use warnings;

use IPC::Run;
use MIME::Base64 qw(decode_base64);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our $PEER_PASSWORD = 'peer-secret-1';
our $ANALYST = 'analyst';

# Processes a test stopped with SIGSTOP: continued at exit whatever happens,
# so that the harness can stop the clusters
my %stopped_pids;

END
{
	kill 'CONT', keys %stopped_pids if %stopped_pids;
}

# Deterministic data per site.  site_a: the largest, the only one with the
# '90+' age band and the 'icu' ward; site_b: mostly negative deltas,
# values with three decimals rounded to two; site_c: small, and no COVID-19
# admission at all.  Any further site gets a small table of its own.
my %DATA = (
	site_a => q{
		SELECT i, (ARRAY['icu', 'medicine', 'surgery'])[1 + i % 3], i % 3 = 0,
		       i % 17, (i % 11) - 7, round(i / 4.0, 2),
		       CASE WHEN i % 50 = 0 THEN '90+' WHEN i % 2 = 0 THEN '18-64' ELSE '65-89' END
		FROM generate_series(1, 1200) i},
	site_b => q{
		SELECT i, (ARRAY['medicine', 'surgery'])[1 + i % 2], i % 4 = 0,
		       i % 13, (i % 5) - 4, round(i / 8.0, 2),
		       CASE WHEN i % 2 = 0 THEN '18-64' ELSE '65-89' END
		FROM generate_series(1, 700) i},
	site_c => q{
		SELECT i, 'medicine', false, i % 7, -(i % 3), 1.5, '18-64'
		FROM generate_series(1, 300) i},
);
my $DEFAULT_DATA = q{
		SELECT i, 'surgery', i % 2 = 0, i % 5, i % 3, 2.25, '65-89'
		FROM generate_series(1, 50) i};

=pod

=head1 METHODS

=over

=item ScorTest->new(sites => [names], peer_user => 'scor_peer', declare_peers => 1)

Create, start and set up one cluster per site, then declare every site to
every other one and pin the keys.  peer_user is the role the user mappings
log in as: 'scor_peer' itself (made LOGIN with a password, exactly as in the
documented block) or 'scor_peer_login' (a login role granted scor_peer).
With declare_peers => 0 the sites know nothing of each other (a network
manifest declares them: test/t/005_manifest.pl).

=cut

sub new
{
	my ($class, %opts) = @_;
	my $self = bless {
		sites => $opts{sites} || [qw(site_a site_b site_c)],
		peer_user => $opts{peer_user} || 'scor_peer',
		nodes => {},
	}, $class;

	foreach my $site (@{ $self->{sites} })
	{
		$self->{nodes}{$site} = $self->_create_site($site);
	}
	return $self if defined $opts{declare_peers} && !$opts{declare_peers};
	foreach my $site (@{ $self->{sites} })
	{
		foreach my $peer (@{ $self->{sites} })
		{
			$self->declare_peer($site, $peer) unless $peer eq $site;
		}
	}
	return $self;
}

# One cluster: TCP on 127.0.0.1 with SCRAM, the extension, the site key,
# roles and data
sub _create_site
{
	my ($self, $site) = @_;
	my $node = PostgreSQL::Test::Cluster->new($site);

	$node->init;
	$node->append_conf('postgresql.conf', qq{
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
log_connections = on
log_min_messages = info
max_connections = 40
# the decoder's baby-step table, built once per cluster: small and quick here
scor.decode_table_bits = 16
});
	# Unix socket (the harness): trust; TCP (the peers): SCRAM only
	open my $hba, '>', $node->data_dir . '/pg_hba.conf'
	  or die "cannot write pg_hba.conf: $!";
	print $hba "local all all trust\n";
	print $hba "host all all 127.0.0.1/32 scram-sha-256\n";
	print $hba "host all all ::1/128 scram-sha-256\n";
	close $hba;
	$node->start;

	$node->safe_psql('postgres', 'CREATE DATABASE clinic');
	my $data = $DATA{$site} || $DEFAULT_DATA;
	$node->safe_psql('clinic', qq{
SET client_min_messages = warning;
CREATE EXTENSION scor;
SELECT site_name FROM scor.init_site('$site');
-- the documented peer login, and a separate login role granted scor_peer
ALTER ROLE scor_peer LOGIN PASSWORD '$PEER_PASSWORD';
CREATE ROLE scor_peer_login LOGIN PASSWORD '$PEER_PASSWORD' IN ROLE scor_peer;
-- scor locks their sessions down from the start (scor.require_peer_lockdown)
ALTER ROLE scor_peer SET session_preload_libraries = 'scor';
ALTER ROLE scor_peer_login SET session_preload_libraries = 'scor';
-- an analyst who is not a superuser: the peer must really use the password
CREATE ROLE $ANALYST LOGIN IN ROLE scor_analyst;
CREATE TABLE admissions (id integer, ward text, covid boolean, los integer,
                         delta integer, cost numeric(12, 2), age_band text);
INSERT INTO admissions $data;
GRANT SELECT ON admissions TO $ANALYST;
-- run a statement, and report its outcome and how long it took
CREATE FUNCTION public.attempt(stmt text, OUT outcome text, OUT ms integer)
LANGUAGE plpgsql AS \$fn\$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE stmt;
	outcome := 'ok';
	ms := (extract(epoch FROM clock_timestamp() - t0) * 1000)::integer;
EXCEPTION WHEN others THEN
	outcome := SQLSTATE || ': ' || SQLERRM;
	ms := (extract(epoch FROM clock_timestamp() - t0) * 1000)::integer;
END
\$fn\$;
GRANT EXECUTE ON FUNCTION public.attempt(text) TO $ANALYST;
});
	return $node;
}

=pod

=item $net->add_site($site)

Create one more site (cluster, extension, key, data), declared to no one.

=cut

sub add_site
{
	my ($self, $site) = @_;
	$self->{nodes}{$site} = $self->_create_site($site);
	push @{ $self->{sites} }, $site;
	return $self->{nodes}{$site};
}

=pod

=item $net->declare_peer($site, $peer)

At $site, create the foreign server and user mapping of $peer and pin its key.

=cut

sub declare_peer
{
	my ($self, $site, $peer) = @_;
	my $port = $self->{nodes}{$peer}->port;
	my $user = $self->{peer_user};

	$self->sql($site, qq{
SET client_min_messages = warning;
CREATE SERVER $peer FOREIGN DATA WRAPPER scor OPTIONS (host '127.0.0.1', port '$port', dbname 'clinic');
CREATE USER MAPPING FOR PUBLIC SERVER $peer OPTIONS (user '$user', password '$PEER_PASSWORD');
SELECT scor.add_peer('$peer');
GRANT USAGE ON FOREIGN SERVER $peer TO $ANALYST;
});
	return;
}

=pod

=item $net->node($site), $net->sites

The cluster of a site; the site names, in order.

=cut

sub node { my ($self, $site) = @_; return $self->{nodes}{$site} || die "no site $site"; }
sub sites { my ($self) = @_; return @{ $self->{sites} }; }

=pod

=item $net->sql($site, $sql)

Run SQL in the site's database "clinic"; die on error; return stdout.

=cut

sub sql
{
	my ($self, $site, $sql) = @_;
	return $self->node($site)->safe_psql('clinic', $sql);
}

=pod

=item $net->try_sql($site, $sql, user => role)

Run SQL in "clinic" (as role if given), without stopping at errors; return
(stdout, stderr).  Errors carry their SQLSTATE (VERBOSITY verbose), as in
"ERROR:  SC003: ...".

=cut

sub try_sql
{
	my ($self, $site, $sql, %opts) = @_;
	my $node = $self->node($site);
	my ($out, $err);

	$node->psql('clinic', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out, stderr => \$err, on_error_stop => 0,
		extra_params => [ $opts{user} ? ('-U', $opts{user}) : () ]);
	return ($out, $err);
}

=pod

=item $net->attempt($site, $stmt, setup => sql, user => role)

Run $stmt through public.attempt() (after the optional setup statements, in
the same session); return (outcome, ms, stdout of a following "SELECT 1"
in the same session, proving the session still works).  Outcome is 'ok' or
"SQLSTATE: message".

=cut

sub attempt
{
	my ($self, $site, $stmt, %opts) = @_;
	my $setup = $opts{setup} || '';
	(my $quoted = $stmt) =~ s/'/''/g;
	my ($out, $err) = $self->try_sql($site, qq{
$setup
SELECT outcome || '|' || ms FROM public.attempt('$quoted');
SELECT 'session alive: ' || count(*) FROM admissions;
}, user => $opts{user});
	my ($line, $alive) = split /\n/, $out // '', 2;
	die "attempt at $site failed: $err" unless defined $line && $line =~ /\|/;
	my ($outcome, $ms) = $line =~ /^(.*)\|(\d+)$/s;
	return ($outcome, $ms, $alive // '');
}

=pod

=item $net->truth($sql)

Run a plaintext query at every site and return one array of rows per
site: the oracle the federated results are checked against.

=item $net->total($sql)

The sum over all sites of a plaintext query's single value (integers;
a missing value counts 0).

=cut

sub truth
{
	my ($self, $sql) = @_;
	my %rows;
	foreach my $site ($self->sites)
	{
		$rows{$site} = [ split /\n/, $self->sql($site, $sql) ];
	}
	return \%rows;
}

sub total
{
	my ($self, $sql) = @_;
	my $sum = 0;
	foreach my $site ($self->sites)
	{
		my $v = $self->sql($site, $sql);
		$sum += $v eq '' ? 0 : $v;
	}
	return $sum;
}

=pod

=item $net->network_id($site), $net->network_key_hex($site)

The site's network id (hex) and collective public key (hex).

=cut

sub network_id
{
	my ($self, $site) = @_;
	return $self->sql($site, 'SELECT network_id FROM scor.network_key()');
}

sub network_key_hex
{
	my ($self, $site) = @_;
	my $b64 = $self->sql($site, 'SELECT public_key FROM scor.network_key()');
	$b64 =~ tr{-_}{+/};
	$b64 .= '=' x ((4 - length($b64) % 4) % 4);
	return unpack('H*', decode_base64($b64));
}

=pod

=item $net->contribute($site, $qid_hex, $query, coordinator => name)

Phase 1 by hand: call scor.remote_contribute at the site as role scor_peer;
return the ANSWER as raw bytes.

=item $net->decrypt($site, $qid_hex, $bundle_bytes, network_id => hex)

Phase 2 by hand: call scor.remote_decrypt as scor_peer (for the given
network id, by default the site's own); return (stdout, stderr): the SHARES
as hex, or the error.

=item ScorTest::bundle(@answers), ScorTest::tohex($bytes), ScorTest::fromhex($hex)

Build a BUNDLE ("SCB1", u16 count, u32-length-prefixed answers).

=cut

sub contribute
{
	my ($self, $site, $qid, $query, %opts) = @_;
	my $nid = $self->network_id($site);
	my $coordinator = $opts{coordinator} || 'site_a';
	(my $q = $query) =~ s/'/''/g;
	my $sig = $self->request_signature($coordinator, $site, $nid, $qid, $query);
	my $out = $self->sql($site, qq{
SET ROLE scor_peer;
SELECT scor.remote_contribute('\\x$nid', '\\x$qid', '$coordinator', 'mallory', '$q', false, '', '{}', '$sig');
});
	die "no answer from $site" unless $out =~ /^\\x([0-9a-f]+)$/;
	return fromhex($1);
}

=pod

=item $net->request_signature($signer, $site, $nid_hex, $qid_hex, $query, analyst => role)

The signature (as psql prints a bytea) that site $signer, as coordinator,
makes of a round-1 request to $site (no template, not per site, analyst
'mallory' unless given), made at $signer with scor.request_signature.

=cut

sub request_signature
{
	my ($self, $signer, $site, $nid, $qid, $query, %opts) = @_;
	my $analyst = $opts{analyst} || 'mallory';
	(my $q = $query) =~ s/'/''/g;
	return $self->sql($signer, qq{
SELECT scor.request_signature('\\x$nid', '\\x$qid', '$site', '$analyst', '$q', false, '', '{}');
});
}

sub decrypt
{
	my ($self, $site, $qid, $bundle, %opts) = @_;
	my $nid = $opts{network_id} // $self->network_id($site);
	my $hex = tohex($bundle);
	return $self->try_sql($site, qq{
SET ROLE scor_peer;
SELECT scor.remote_decrypt('\\x$nid', '\\x$qid', '\\x$hex');
});
}

sub bundle
{
	my @answers = @_;
	return pack('a4 n', 'SCB1', scalar @answers)
	  . join('', map { pack('N', length $_) . $_ } @answers);
}

sub tohex { return unpack('H*', $_[0]); }
sub fromhex { return pack('H*', $_[0]); }

=pod

=item $net->forge($mode, $bundle_bytes, $site, @args)

Run test/tools/scor_forge on a bundle, rewriting $site's answer and
re-signing it with the site's real key (read from its key file); return the
new bundle's bytes.

=cut

sub forge
{
	my ($self, $mode, $bundle, $site, @args) = @_;
	my $tool = "$ENV{TESTDIR}/test/tools/scor_forge";
	my $keyfile = $self->node($site)->data_dir . "/scor/$site.key";
	my $in = tohex($bundle);
	my ($out, $err);

	IPC::Run::run([ $tool, $mode, $site, $keyfile, @args ],
		'<', \$in, '>', \$out, '2>', \$err)
	  or die "scor_forge $mode failed: $err";
	chomp $out;
	return fromhex($out);
}

=pod

=item ScorTest::sigstop($pid), ScorTest::sigcont($pid)

Freeze and thaw a process; frozen ones are thawed at exit in any case.

=item ScorTest::wait_gone(@pids)

Wait until none of the processes exists any more, not even as a zombie.

=cut

sub sigstop
{
	my ($pid) = @_;
	kill('STOP', $pid) or die "cannot stop $pid: $!";
	$stopped_pids{$pid} = 1;
	return;
}

sub sigcont
{
	my ($pid) = @_;
	kill('CONT', $pid) or die "cannot continue $pid: $!";
	delete $stopped_pids{$pid};
	return;
}

sub wait_gone
{
	my @pids = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		# a zombie still counts: a postmaster refuses to start while the pid
		# in postmaster.pid answers kill 0
		return 1 unless grep { kill 0, $_ } @pids;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

=pod

=item $node->postmaster_pid (via ScorTest::postmaster_pid($node))

The pid in postmaster.pid.

=cut

sub postmaster_pid
{
	my ($node) = @_;
	open my $fh, '<', $node->data_dir . '/postmaster.pid'
	  or die "no postmaster.pid: $!";
	my $pid = <$fh>;
	close $fh;
	chomp $pid;
	return $pid;
}

=back

=cut

1;
