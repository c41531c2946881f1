// The peer of bench_cassandra.sh: the same user rows written by the DataStax Java driver 4.x,
// the best Cassandra client there is, the way its docs recommend for bulk writes: one prepared
// INSERT, executeAsync, a semaphore keeping ~IN_FLIGHT requests outstanding.
//   java -cp DIR:driver-jars/* CassandraPeer PORT KEYSPACE ROWS IN_FLIGHT
// Prints "java-driver: ROWS rows in S s = R rows/s (cpu C s)".
import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.config.DefaultDriverOption;
import com.datastax.oss.driver.api.core.config.DriverConfigLoader;
import com.datastax.oss.driver.api.core.cql.BoundStatement;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

public class CassandraPeer {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        String ks = args[1];
        long rows = Long.parseLong(args[2]);
        int inFlight = Integer.parseInt(args[3]);
        try (CqlSession s = CqlSession.builder()
                .addContactPoint(new InetSocketAddress("127.0.0.1", port))
                .withLocalDatacenter("datacenter1")
                // The same request timeout as sluice's (the default 2 s fails on a busy node).
                .withConfigLoader(DriverConfigLoader.programmaticBuilder()
                        .withDuration(DefaultDriverOption.REQUEST_TIMEOUT, Duration.ofSeconds(12))
                        .build())
                .build()) {
            s.execute("CREATE KEYSPACE IF NOT EXISTS " + ks + " WITH replication = "
                    + "{'class': 'SimpleStrategy', 'replication_factor': 1}");
            s.execute("CREATE TABLE IF NOT EXISTS " + ks + ".created_users (id uuid PRIMARY KEY, "
                    + "first_name text, last_name text, gender text, address text, "
                    + "post_code text, email text, username text, dob text, "
                    + "registered_date text, phone text, picture text)");
            PreparedStatement ins = s.prepare("INSERT INTO " + ks + ".created_users (id, "
                    + "first_name, last_name, gender, address, post_code, email, username, dob, "
                    + "registered_date, phone, picture) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
            Semaphore sem = new Semaphore(inFlight);
            AtomicLong failed = new AtomicLong();
            AtomicReference<Throwable> firstError = new AtomicReference<>();
            long cpu0 = ManagementFactory.getOperatingSystemMXBean() instanceof
                    com.sun.management.OperatingSystemMXBean o ? o.getProcessCpuTime() : 0;
            long t0 = System.nanoTime();
            for (long i = 0; i < rows; i++) {
                BoundStatement b = ins.bind(UUID.randomUUID(), "First" + (i % 5000),
                        "Last" + ((i * 7) % 9000), (i & 1) == 1 ? "female" : "male",
                        (i % 9999) + " Main Street, Springfield " + (i % 700) + ", State "
                                + (i % 50) + ", Country " + (i % 30),
                        String.valueOf(10000 + i % 89999), "user" + i + "@example.com",
                        "user" + i, "1980-05-0" + (1 + i % 9) + "T10:11:12.123Z",
                        "2015-06-0" + (1 + i % 9) + "T01:02:03.456Z", "(555) 01" + (i % 100),
                        "https://randomuser.me/api/portraits/med/men/" + (i % 99) + ".jpg");
                sem.acquire();
                s.executeAsync(b).whenComplete((r, e) -> {
                    if (e != null) {
                        failed.incrementAndGet();
                        firstError.compareAndSet(null, e);
                    }
                    sem.release();
                });
            }
            sem.acquire(inFlight);
            double secs = (System.nanoTime() - t0) / 1e9;
            long cpu1 = ManagementFactory.getOperatingSystemMXBean() instanceof
                    com.sun.management.OperatingSystemMXBean o ? o.getProcessCpuTime() : 0;
            if (failed.get() > 0) {
                System.err.println("java-driver: " + failed.get() + " writes failed, first: "
                        + firstError.get());
                System.exit(1);
            }
            System.out.printf("java-driver: %d rows in %.2f s = %.0f rows/s (cpu %.1f s)%n", rows,
                    secs, rows / secs, (cpu1 - cpu0) / 1e9);
        }
    }
}
