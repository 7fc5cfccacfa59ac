set -x
mkdir -p /tmp/wl && cd /tmp/wl
for i in $(seq 1 30); do ls /etc >/dev/null; cat /etc/hostname >/dev/null; done
cat /etc/no-such-file 2>/dev/null
useradd -M -s /usr/sbin/nologin engtestuser
sudo -u engtestuser id
sudo -u engtestuser cat /etc/shadow 2>/dev/null
su -s /bin/sh -c 'id; ls /root' engtestuser 2>/dev/null
echo hi > f1; chmod 600 f1; chown engtestuser f1; mv f1 f2; rm f2
ln -s /etc/hosts lnk; rm lnk
python3 - <<'P'
import socket, os
s = socket.socket(); 
try: s.connect(("127.0.0.1", 1))
except Exception: pass
s6 = socket.socket(socket.AF_INET6)
try: s6.connect(("::1", 2))
except Exception: pass
u = socket.socket(socket.AF_UNIX)
try: u.connect("/tmp/wl/nosock")
except Exception: pass
b = socket.socket(); b.bind(("127.0.0.1", 0)); b.close()
os.setgid(0); os.setuid(0)
P
sleep 60 & kill -9 $!
mkdir -p /tmp/wl/mnt && mount -t tmpfs none /tmp/wl/mnt && umount /tmp/wl/mnt
/bin/true "$(head -c 3000 /dev/zero | tr '\0' a)" arg2 "with space" "quote\"d"
bash -c 'exit 3'
userdel engtestuser
cd / && rm -rf /tmp/wl
