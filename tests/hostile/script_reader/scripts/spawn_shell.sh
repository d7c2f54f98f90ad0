#!/bin/bash
# Hostile: tries to reach the network and leave a process behind.
(sleep 297.531 &)  # a duration no other program on the machine uses: the test looks for it 
exec 3<>/dev/tcp/1.1.1.1/80 && echo "network reached" || echo "no network"
