// pgJDBC through pgsieve: server-side prepared statements (prepareThreshold),
// fetch size over a named portal, setReadOnly, error recovery. Run by
// test_drivers_java.py with Java's single-file source launcher.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

public class JdbcDriverTest {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String host = System.getenv("PGSIEVE_HOST");
        String port = System.getenv("PGSIEVE_PORT");
        boolean tls = "1".equals(System.getenv("PGSIEVE_TLS"));
        String url = "jdbc:postgresql://" + host + ":" + port + "/app?prepareThreshold=2&sslmode="
                + (tls ? "require&sslfactory=org.postgresql.ssl.NonValidatingFactory" : "disable");
        Properties props = new Properties();
        props.setProperty("user", "cs_bot");
        props.setProperty("password", System.getenv("PGSIEVE_PASSWORD"));
        props.setProperty("ApplicationName", "pgjdbc-test");

        try (Connection conn = DriverManager.getConnection(url, props)) {
            // From the second execution on, pgJDBC uses a named server-side statement.
            try (PreparedStatement ps = conn.prepareStatement("SELECT name FROM customers WHERE id = ?")) {
                for (int i = 0; i < 5; i++) {
                    ps.setLong(1, 1 + (i % 3));
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "a row");
                    }
                }
            }
            try (Statement s = conn.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'S_%'")) {
                rs.next();
                check(rs.getInt(1) >= 1, "a named server-side statement");
            }

            // A fetch size makes pgJDBC read a named portal in chunks.
            conn.setAutoCommit(false);
            try (Statement s = conn.createStatement()) {
                s.setFetchSize(4);
                try (ResultSet rs = s.executeQuery("SELECT g FROM generate_series(1, 50) g")) {
                    int n = 0;
                    while (rs.next()) n++;
                    check(n == 50, "50 rows in chunks of 4, got " + n);
                }
            }
            conn.commit();

            conn.setReadOnly(true);
            try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM usage_daily")) {
                rs.next();
                check(rs.getInt(1) == 21, "usage rows");
            }
            conn.commit();
            conn.setReadOnly(false);

            try (Statement s = conn.createStatement()) {
                s.executeQuery("SELECT 1/0");
                throw new AssertionError("division by zero should fail");
            } catch (SQLException e) {
                check("22012".equals(e.getSQLState()), "SQLSTATE 22012, got " + e.getSQLState());
            }
            conn.rollback();
            try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT 'recovered'")) {
                rs.next();
                check(rs.getString(1).equals("recovered"), "recovered");
            }
        }
        System.out.println("jdbc ok");
    }
}
