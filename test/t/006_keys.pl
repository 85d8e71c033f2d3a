# The site key outside SQL: the key file's mode, no secret in a dump or the
# server log, a prepared transaction cannot carry a new key file, and
# scor.key_command (creation, and rotation, which must change the key).
use strict;
use warnings;

use File::Copy;
use IPC::Run;
use MIME::Base64 qw(encode_base64);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ScorTest;

my $net = ScorTest->new(sites => [qw(site_a)], declare_peers => 0);
my $node = $net->node('site_a');

# Log everything a DBA could turn on, so that "not in the log" means something
$node->append_conf('postgresql.conf', q{
log_statement = 'all'
log_min_messages = debug1
log_min_error_statement = debug1
max_prepared_transactions = 2
});
$node->restart;

# Read a file's bytes
sub slurp_bytes
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "cannot read $path: $!";
	local $/;
	my $bytes = <$fh>;
	close $fh;
	return $bytes;
}

# Every text form a secret could take in a dump or a log: hex (both cases),
# base64 and unpadded base64url
sub secret_forms
{
	my ($bytes) = @_;
	my $hex = unpack('H*', $bytes);
	(my $b64 = encode_base64($bytes, '')) =~ s/=+$//;
	(my $b64url = $b64) =~ tr{+/}{-_};
	return ($hex, uc $hex, $b64, $b64url);
}

# Whether any form of any secret occurs in a text
sub leaks
{
	my ($text, @secrets) = @_;
	foreach my $secret (@secrets)
	{
		foreach my $form (secret_forms($secret))
		{
			return $form if index($text, $form) >= 0;
		}
	}
	return undef;
}

# Run SQL in a database with SQLSTATEs shown; return (stdout, stderr)
sub try_db
{
	my ($db, $sql) = @_;
	my ($out, $err);
	$node->psql($db, "\\set VERBOSITY verbose\n$sql",
		stdout => \$out, stderr => \$err, on_error_stop => 0);
	return ($out, $err);
}

#
# The key file
#
my $keydir = $node->data_dir . '/scor';
my $keyfile = "$keydir/site_a.key";
ok(-f $keyfile, 'init_site wrote the key file under $PGDATA/scor');
is(sprintf('%04o', (stat $keyfile)[2] & 07777), '0600', 'the key file has mode 0600');
is(sprintf('%04o', (stat $keydir)[2] & 07777), '0700', 'its directory has mode 0700');
my $file = slurp_bytes($keyfile);
is(length $file, 48, 'the key file is magic, seed and checksum (48 bytes)');
is(substr($file, 0, 8), 'SCORKEY1', 'the key file starts with its magic');
my @secrets = (substr($file, 8, 32), $file);

is($node->safe_psql('clinic', 'SELECT scor.decrypt(scor.encrypt(41))'), '41', 'the key file decrypts');

# A rotation inside a prepared transaction is refused before anything is
# prepared, and leaves the key as it was
my ($out, $err) = try_db('clinic', q{
BEGIN;
SELECT site_name FROM scor.init_site('site_a', rotate => true);
PREPARE TRANSACTION 'rotation';
});
like($err, qr/ERROR:  0A000: cannot prepare a transaction that created or rotated a site key/,
	'PREPARE TRANSACTION after a rotation is refused (0A000)');
is($node->safe_psql('clinic', 'SELECT count(*) FROM pg_prepared_xacts'), '0', 'nothing was prepared');
is($node->safe_psql('clinic', 'SELECT key_version FROM scor.site'), '1', 'key_version is unchanged');
is(slurp_bytes($keyfile), $file, 'the key file is unchanged');
ok(!-e "$keyfile.new", 'no new key file is left behind');
# without a pending key file, prepared transactions work as usual
($out, $err) = try_db('clinic', q{
BEGIN;
SELECT key_version FROM scor.site;
PREPARE TRANSACTION 'plain';
COMMIT PREPARED 'plain';
});
is($err, '', 'a prepared transaction without a new key file commits');

# A rotation with the key file: a new seed, still mode 0600
is($node->safe_psql('clinic', q{SELECT site_name FROM scor.init_site('site_a', rotate => true)}), 'site_a',
	'rotation with the key file succeeds');
my $rotated = slurp_bytes($keyfile);
isnt(substr($rotated, 8, 32), substr($file, 8, 32), 'rotation wrote a new seed');
is(sprintf('%04o', (stat $keyfile)[2] & 07777), '0600', 'the rotated key file has mode 0600');
push @secrets, substr($rotated, 8, 32), $rotated;
is($node->safe_psql('clinic', 'SELECT scor.decrypt(scor.encrypt(42))'), '42', 'the rotated key decrypts');

#
# scor.key_command: a script that prints the seed as 64 hex digits
#
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $seedfile = "$tmp/seed.hex";
my $getkey = "$tmp/getkey.sh";
my @command_seeds = (pack('H*', '1f' x 32), pack('H*', 'a7' x 31 . '05'));

# Make the command print a seed
sub set_command_seed
{
	my ($seed) = @_;
	open my $fh, '>', $seedfile or die "cannot write $seedfile: $!";
	print $fh unpack('H*', $seed), "\n";
	close $fh;
	chmod 0600, $seedfile;
	return;
}

open my $fh, '>', $getkey or die "cannot write $getkey: $!";
print $fh "#!/bin/sh\nexec cat '$seedfile'\n";
close $fh;
chmod 0700, $getkey;
set_command_seed($command_seeds[0]);
push @secrets, @command_seeds;

$node->append_conf('postgresql.conf', "scor.key_command = '$getkey'\n");
$node->reload;
$node->safe_psql('postgres', 'CREATE DATABASE keycmd');
$node->safe_psql('keycmd', q{
SET client_min_messages = warning;
CREATE EXTENSION scor;
SELECT site_name FROM scor.init_site('site_k');
});
ok(!-e "$keydir/site_k.key", 'with scor.key_command, init_site writes no key file');
is($node->safe_psql('keycmd', 'SELECT key_version FROM scor.site'), '1', 'site_k has key version 1');
is($node->safe_psql('keycmd', 'SELECT scor.decrypt(scor.encrypt(-7))'), '-7',
	'the key from scor.key_command decrypts');
my $fpr1 = $node->safe_psql('keycmd', 'SELECT fingerprint FROM scor.site_public_key()');

# The file-keyed site now reads the command's key, which is not its own
($out, $err) = try_db('clinic', 'SELECT scor.decrypt(scor.encrypt(1))');
like($err, qr/ERROR:  XX001: the key of site "site_a" does not match its registered public key/,
	'a key source that does not match the registered key is an error (XX001)');

# Rotation while the command still prints the same seed is refused
($out, $err) = try_db('keycmd', q{SELECT site_name FROM scor.init_site('site_k', rotate => true)});
like($err, qr/ERROR:  55000: the key of site "site_k" did not change/,
	'rotation with an unchanged scor.key_command is refused (55000)');
like($err, qr/HINT:  Change the output of scor\.key_command to the new seed first/,
	'the error tells the DBA to change the command first');
is($node->safe_psql('keycmd', 'SELECT key_version FROM scor.site'), '1', 'key_version did not go up');

# Once the command prints a new seed, rotation succeeds
set_command_seed($command_seeds[1]);
is($node->safe_psql('keycmd', q{SELECT site_name FROM scor.init_site('site_k', rotate => true)}), 'site_k',
	'rotation with a changed scor.key_command succeeds');
is($node->safe_psql('keycmd', 'SELECT key_version FROM scor.site'), '2', 'key_version is 2');
isnt($node->safe_psql('keycmd', 'SELECT fingerprint FROM scor.site_public_key()'), $fpr1,
	'the key changed');
is($node->safe_psql('keycmd', 'SELECT scor.decrypt(scor.encrypt(8))'), '8', 'the new key decrypts');
is($node->safe_psql('keycmd', q{SELECT scor.verify_site_key(site_name, public_key, verify_key, proof)
FROM scor.site_public_key()}), 't', 'the rotated key and its proof verify');

# A command that prints garbage is an error that does not echo its output
set_command_seed('not a seed');
($out, $err) = try_db('keycmd', 'SELECT scor.decrypt(scor.encrypt(1))');
like($err, qr/ERROR:  38000: scor.key_command did not print a key seed/,
	'a command that prints no seed is an error (38000)');
unlike($err, qr/6e6f742061/, 'the error does not show what the command printed');

#
# No secret in a dump or in the server log
#
# the check itself finds a seed in each form it looks for
my @form_names = ('hex', 'upper-case hex', 'base64', 'base64url');
foreach my $i (0 .. $#form_names)
{
	my $form = (secret_forms($secrets[0]))[$i];
	ok(defined leaks("text $form text", @secrets), "the leak check finds a seed written in $form_names[$i]");
}
foreach my $db (qw(clinic keycmd))
{
	my ($dump, $dump_err);
	IPC::Run::run([ 'pg_dump', '--no-sync', '-d', $node->connstr($db) ],
		'>', \$dump, '2>', \$dump_err)
	  or die "pg_dump $db failed: $dump_err";
	like($dump, qr/scor\.site/, "the dump of $db holds scor.site (the public keys)");
	is(leaks($dump, @secrets), undef, "the dump of $db holds no key seed, in any encoding");
}

my $log = slurp_bytes($node->logfile);
like($log, qr/init_site\('site_k', rotate => true\)/, 'the server log has the statements (log_statement = all)');
is(leaks($log, @secrets), undef, 'the server log holds no key seed, in any encoding');

done_testing();
