// scor through JDBC (pgjdbc: Debian's libpostgresql-jdbc-java), as a BI tool or
// a Java service would use it.
//
// Twice: once with text results (binaryTransfer=false), once with binary
// results forced from the first execution (binaryTransfer=true,
// prepareThreshold=-1, and binaryTransferEnable=<oid of scor.ciphertext> so
// that the ciphertext too is received and sent in binary).  Each time:
// federated totals through a PreparedStatement; the views listed by
// DatabaseMetaData.getTables and described by getColumns, as a BI tool
// discovers them, and their rows; a ciphertext round trip (text: getString,
// sent back as a PGobject of type scor.ciphertext; binary: getBytes gives the
// 74-byte binary form, which must equal the base64url-decoded text form, and
// is sent back as a PGBinaryObject, read by ciphertext_recv: a wrong length
// fails with 22P03, which only the binary input function raises); the
// SQLSTATEs of a peer that is down (08001) and of a refused query (SC005).
//
// Run by run.sh (compiled with javac against /usr/share/java/postgresql.jar),
// which exports SCOR_DRV_HOST, _PORT, _USER, _PASSWORD and _TRUTH.  Prints
// "jdbc: N passed, N failed" and exits non-zero on any failure.

import java.lang.reflect.Method;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.postgresql.util.PGBinaryObject;
import org.postgresql.util.PGobject;

public class TestScor {
	static int passed = 0;
	static int failed = 0;

	static final String TOTALS_QUERY = "SELECT enc_count(*), enc_sum(los) FROM admissions WHERE covid";
	static final String FEDERATE_TOTALS = "SELECT n, los FROM scor.federate(?) AS t(n bigint, los bigint)";
	static final String REFUSED = "SELECT * FROM scor.federate('SELECT count(*) FROM admissions') AS t(n bigint)";
	static final int WIRE_BYTES = 74;	// version, scale, key fingerprint (8), C1 (32), C2 (32)
	static final int TEXT_CHARS = 99;	// unpadded base64url of the wire form

	static long[] truthTotal;
	static Map<String, List<Long>> truthGroups = new TreeMap<>();

	interface Check {
		void run() throws Exception;
	}

	static void check(String name, Check c) {
		try {
			c.run();
			passed++;
			System.out.println("ok - " + name);
		} catch (Throwable e) {
			failed++;
			System.out.println("not ok - " + name + ": " + e);
			if (System.getenv("SCOR_DRV_VERBOSE") != null)
				e.printStackTrace(System.out);
		}
	}

	static void assertEq(Object got, Object want, String what) {
		if (!String.valueOf(got).equals(String.valueOf(want)))
			throw new AssertionError(what + ": got " + got + ", want " + want);
	}

	static void assertTrue(boolean cond, String what) {
		if (!cond)
			throw new AssertionError(what);
	}

	static void expectSqlState(Check run, String code, String contains) throws Exception {
		try {
			run.run();
		} catch (SQLException e) {
			assertEq(e.getSQLState(), code, "SQLSTATE of \"" + e.getMessage() + "\"");
			if (contains != null)
				assertTrue(e.getMessage().contains(contains), "message \"" + e.getMessage() + "\" lacks " + contains);
			return;
		}
		throw new AssertionError("no error, expected SQLSTATE " + code);
	}

	/* The format a column of a pgjdbc result set arrived in; null if pgjdbc hides it */
	static String formatOf(ResultSet rs, int column) {
		try {
			Method m = rs.getClass().getDeclaredMethod("isBinary", int.class);
			m.setAccessible(true);
			return (Boolean) m.invoke(rs, column) ? "binary" : "text";
		} catch (ReflectiveOperationException | RuntimeException e) {
			return null;
		}
	}

	static void assertFormat(ResultSet rs, int column, boolean binary) {
		String f = formatOf(rs, column);
		if (f != null)
			assertEq(f, binary ? "binary" : "text", "format of column " + column);
	}

	/* A scor.ciphertext sent in its binary form (when the connection sends its oid in binary) */
	public static class Ciphertext extends PGobject implements PGBinaryObject {
		private byte[] wire;

		public Ciphertext() {
			setType("scor.ciphertext");
		}

		public Ciphertext(byte[] wire) {
			this();
			this.wire = wire.clone();
			this.value = Base64.getUrlEncoder().withoutPadding().encodeToString(wire);
		}

		@Override
		public void setByteValue(byte[] value, int offset) {
			wire = Arrays.copyOfRange(value, offset, value.length);
			this.value = Base64.getUrlEncoder().withoutPadding().encodeToString(wire);
		}

		@Override
		public int lengthInBytes() {
			return wire.length;
		}

		@Override
		public void toBytes(byte[] bytes, int offset) {
			System.arraycopy(wire, 0, bytes, offset, wire.length);
		}
	}

	static Connection connect(String db, Properties extra) throws SQLException {
		Properties p = new Properties();
		p.setProperty("user", System.getenv("SCOR_DRV_USER"));
		p.setProperty("password", System.getenv("SCOR_DRV_PASSWORD"));
		p.putAll(extra);
		String url = "jdbc:postgresql://" + System.getenv("SCOR_DRV_HOST") + ":" + System.getenv("SCOR_DRV_PORT") + "/" + db;
		return DriverManager.getConnection(url, p);
	}

	static byte[] textToWire(String text) {
		assertEq(text.length(), TEXT_CHARS, "text ciphertext length");
		assertTrue(text.matches("[A-Za-z0-9_-]+"), "not base64url: " + text);
		byte[] wire = Base64.getUrlDecoder().decode(text);
		assertEq(wire.length, WIRE_BYTES, "decoded length");
		assertEq(wire[0], 1, "ciphertext version");
		assertEq(wire[1], 0, "ciphertext scale");
		return wire;
	}

	static void runMode(boolean binary, int ciphertextOid) throws Exception {
		Properties props = new Properties();
		if (binary) {
			props.setProperty("binaryTransfer", "true");
			props.setProperty("prepareThreshold", "-1");
			props.setProperty("binaryTransferEnable", Integer.toString(ciphertextOid));
		} else {
			props.setProperty("binaryTransfer", "false");
		}
		String pre = "pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION + (binary ? " binary:" : " text:");

		try (Connection a = connect("site_a", props);
			 Connection solo = connect("site_solo", props);
			 Connection d = connect("site_d", props)) {

			check(pre + " federated totals equal the truth", () -> {
				try (PreparedStatement ps = a.prepareStatement(FEDERATE_TOTALS)) {
					ps.setString(1, TOTALS_QUERY);
					try (ResultSet rs = ps.executeQuery()) {
						assertTrue(rs.next(), "no row");
						assertFormat(rs, 1, binary);
						assertEq(rs.getLong(1) + " " + rs.getLong(2), truthTotal[0] + " " + truthTotal[1], "federated (n, los)");
						assertTrue(!rs.next(), "more than one row");
					}
				}
			});

			check(pre + " the views are listed by DatabaseMetaData.getTables and getColumns", () -> {
				DatabaseMetaData md = a.getMetaData();
				List<String> views = new ArrayList<>();
				try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"VIEW"})) {
					while (rs.next())
						views.add(rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE"));
				}
				assertTrue(views.contains("covid_summary:VIEW") && views.contains("covid_totals:VIEW"), "getTables lists " + views);
				List<String> cols = new ArrayList<>();
				try (ResultSet rs = md.getColumns(null, "public", "covid_summary", "%")) {
					while (rs.next())
						cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":" + rs.getInt("DATA_TYPE"));
				}
				assertEq(cols, Arrays.asList("age_band:text:" + Types.VARCHAR, "n:int8:" + Types.BIGINT, "los:int8:" + Types.BIGINT),
						 "getColumns");
			});

			check(pre + " SELECT from the views gives the truth", () -> {
				Map<String, List<Long>> groups = new TreeMap<>();
				try (PreparedStatement ps = a.prepareStatement("SELECT age_band, n, los FROM covid_summary");
					 ResultSet rs = ps.executeQuery()) {
					assertEq(rs.getMetaData().getColumnTypeName(2), "int8", "type of n");
					while (rs.next()) {
						assertFormat(rs, 2, binary);
						groups.put(rs.getString(1), Arrays.asList(rs.getLong(2), rs.getLong(3)));
					}
				}
				assertEq(groups, truthGroups, "covid_summary");
				try (PreparedStatement ps = a.prepareStatement("SELECT n, los FROM covid_totals");
					 ResultSet rs = ps.executeQuery()) {
					assertTrue(rs.next(), "no row");
					assertEq(rs.getLong(1) + " " + rs.getLong(2), truthTotal[0] + " " + truthTotal[1], "covid_totals");
				}
			});

			if (!binary) {
				check(pre + " a ciphertext round-trips in its text form", () -> {
					String text;
					try (PreparedStatement ps = solo.prepareStatement("SELECT scor.encrypt(42)");
						 ResultSet rs = ps.executeQuery()) {
						assertTrue(rs.next(), "no row");
						assertFormat(rs, 1, false);
						text = rs.getString(1);
					}
					textToWire(text);
					PGobject ct = new PGobject();
					ct.setType("scor.ciphertext");
					ct.setValue(text);
					try (PreparedStatement ps = solo.prepareStatement("SELECT scor.decrypt(?)")) {
						ps.setObject(1, ct);
						try (ResultSet rs = ps.executeQuery()) {
							assertTrue(rs.next(), "no row");
							assertEq(rs.getBigDecimal(1), new BigDecimal(42), "decrypt(text ciphertext)");
						}
						ct.setValue(text.substring(1));
						ps.setObject(1, ct);
						expectSqlState(() -> ps.executeQuery().close(), "22P02", null);
					}
				});
			} else {
				check(pre + " a ciphertext round-trips in its binary form", () -> {
					byte[] wire;
					String text;
					try (PreparedStatement ps = solo.prepareStatement(
							"SELECT c, c::text FROM (SELECT scor.encrypt(42) AS c OFFSET 0) s");
						 ResultSet rs = ps.executeQuery()) {
						assertTrue(rs.next(), "no row");
						assertFormat(rs, 1, true);
						wire = rs.getBytes(1);
						text = rs.getString(2);
					}
					assertEq(wire.length, WIRE_BYTES, "binary ciphertext length");
					assertEq(Base64.getUrlEncoder().withoutPadding().encodeToString(wire), text,
							 "binary form, base64url-encoded");
					assertTrue(Arrays.equals(textToWire(text), wire), "text form decodes to the binary form");
					try (PreparedStatement ps = solo.prepareStatement("SELECT scor.decrypt(?)")) {
						ps.setObject(1, new Ciphertext(wire));
						try (ResultSet rs = ps.executeQuery()) {
							assertTrue(rs.next(), "no row");
							assertEq(rs.getBigDecimal(1), new BigDecimal(42), "decrypt(binary ciphertext)");
						}
						ps.setObject(1, new Ciphertext(Arrays.copyOf(wire, WIRE_BYTES - 1)));
						expectSqlState(() -> ps.executeQuery().close(), "22P03", null);
					}
					try (PreparedStatement ps = solo.prepareStatement("SELECT scor.decrypt(? + ?)")) {
						ps.setObject(1, new Ciphertext(wire));
						ps.setObject(2, new Ciphertext(wire));
						try (ResultSet rs = ps.executeQuery()) {
							assertTrue(rs.next(), "no row");
							assertEq(rs.getBigDecimal(1), new BigDecimal(84), "decrypt(sum of binary ciphertexts)");
						}
					}
				});
			}

			check(pre + " a peer that is down raises SQLSTATE 08001 naming it", () -> {
				try (PreparedStatement ps = d.prepareStatement("SELECT * FROM down_summary")) {
					expectSqlState(() -> ps.executeQuery().close(), "08001", "site \"site_a\"");
				}
			});

			check(pre + " a refused query raises SQLSTATE SC005", () -> {
				try (PreparedStatement ps = a.prepareStatement(REFUSED)) {
					expectSqlState(() -> ps.executeQuery().close(), "SC005", null);
				}
				try (PreparedStatement ps = a.prepareStatement("SELECT n FROM covid_totals");
					 ResultSet rs = ps.executeQuery()) {
					assertTrue(rs.next(), "no row after the error");
					assertEq(rs.getLong(1), truthTotal[0], "n after the error");
				}
			});
		}
	}

	public static void main(String[] args) {
		try {
			for (String line : Files.readAllLines(Paths.get(System.getenv("SCOR_DRV_TRUTH")))) {
				String[] w = line.trim().split("\\s+");
				if (w[0].equals("total"))
					truthTotal = new long[] {Long.parseLong(w[1]), Long.parseLong(w[2])};
				else if (w[0].equals("group"))
					truthGroups.put(w[1], Arrays.asList(Long.parseLong(w[2]), Long.parseLong(w[3])));
			}
			if (truthTotal == null || truthGroups.isEmpty())
				throw new AssertionError("empty truth file");

			int oid;
			try (Connection c = connect("site_solo", new Properties());
				 PreparedStatement ps = c.prepareStatement("SELECT 'scor.ciphertext'::regtype::oid::int");
				 ResultSet rs = ps.executeQuery()) {
				rs.next();
				oid = rs.getInt(1);
			}
			runMode(false, oid);
			runMode(true, oid);
		} catch (Throwable e) {
			failed++;
			System.out.println("not ok - JDBC runs: " + e);
			e.printStackTrace(System.out);
		}
		System.out.println("jdbc: " + passed + " passed, " + failed + " failed");
		System.exit(failed == 0 && passed > 0 ? 0 : 1);
	}
}
