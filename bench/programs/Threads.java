// A Java program that waits, with as many threads as asked in all: it says
// "started N" (the JVM's own threads, as /proc shows them, are counted by
// bench/run), then reads a number from stdin, starts that many more
// sleeping threads and says "ready". Section 6 of bench/run moves it.
import java.io.BufferedReader;
import java.io.InputStreamReader;

public class Threads {
    public static void main(String[] args) throws Exception {
        System.out.println("started");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        int more = Integer.parseInt(in.readLine().trim());
        for (int i = 0; i < more; i++) {
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    return;
                }
            });
            t.setDaemon(true);
            t.start();
        }
        System.out.println("ready");
        Thread.sleep(Long.MAX_VALUE);
    }
}
