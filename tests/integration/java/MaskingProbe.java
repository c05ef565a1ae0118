// pgJDBC through pgsieve for the masking test (test_masking.py): each
// statement of the file named by argv[0] (one per line) runs three times as
// a PreparedStatement with prepareThreshold=1, so from the second run it is a
// named server-side statement whose integer and date columns pgJDBC asks for
// in binary. Prints "OK i v1|v2…" per row or "ERR i sqlstate message".

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Properties;

public class MaskingProbe {
    public static void main(String[] args) throws Exception {
        List<String> statements = Files.readAllLines(Path.of(args[0]));
        String url = "jdbc:postgresql://" + System.getenv("PGSIEVE_HOST") + ":" + System.getenv("PGSIEVE_PORT")
                + "/app?prepareThreshold=1&sslmode=disable";
        Properties props = new Properties();
        props.setProperty("user", System.getenv("PGSIEVE_USER"));
        props.setProperty("password", System.getenv("PGSIEVE_PASSWORD"));
        try (Connection conn = DriverManager.getConnection(url, props)) {
            conn.setAutoCommit(true);
            for (int i = 0; i < statements.size(); i++) {
                try (PreparedStatement ps = conn.prepareStatement(statements.get(i))) {
                    for (int run = 0; run < 3; run++) {
                        if (!ps.execute()) continue;
                        try (ResultSet rs = ps.getResultSet()) {
                            int columns = rs.getMetaData().getColumnCount();
                            while (rs.next()) {
                                StringBuilder row = new StringBuilder("OK " + i + " ");
                                for (int c = 1; c <= columns; c++) {
                                    if (c > 1) row.append('|');
                                    row.append(rs.getString(c));
                                }
                                System.out.println(row);
                            }
                        }
                    }
                } catch (SQLException e) {
                    System.out.println("ERR " + i + " " + e.getSQLState() + " " + e.getMessage().replace('\n', ' '));
                }
            }
        }
        System.out.println("jdbc probe done");
    }
}
