import sys, subprocess, collections
data, mypid = sys.argv[1], (sys.argv[2] if len(sys.argv)>2 else None)
out = subprocess.run(['perf','script','-i',data,'-F','comm,pid,tid,ip,sym'],capture_output=True,text=True).stdout
cats = collections.Counter(); total=0
def classify(comm, pid, frames):
    s = frames  # leaf first
    names = set(s)
    if comm == 'swapper' and any('halt' in f or 'idle' in f for f in s[:3]):
        return 'idle'
    if comm not in ('cbacd','smtp-source','smtp-sink','cbacbench','swapper') and not comm.startswith('ksoftirqd'):
        return 'other processes: '+('kernel' if s and not s[0].startswith('[u') else 'user')
    if comm=='cbacd' and mypid and pid!=mypid:
        return 'other processes: kernel'
    # walk from leaf to root: first matching marker decides
    for f in s:
        if f in ('do_xdp_generic','netif_receive_generic_xdp','xsk_generic_rcv','bpf_prog_run_generic_xdp'):
            return 'AF_XDP rx: generic XDP, skb copy, copy into UMEM'
        if f in ('__xsk_generic_xmit','xsk_build_skb','xsk_destruct_skb'):
            return 'AF_XDP tx: skb build, copy from UMEM, veth xmit'
        if f.startswith('nft_') or f.startswith('nf_') or f.startswith('ipv4_conntrack') or f=='nf_hook_slow':
            return 'netfilter (conntrack, NAT, rules)'
        if f in ('ip_forward','ip_forward_finish'):
            return 'IP forwarding'
        if f in ('tcp_v4_rcv','ip_local_deliver','tcp_sendmsg','tcp_recvmsg','__tcp_transmit_skb','tcp_v4_connect','inet_accept','__sys_accept4','tcp_close','__sys_connect'):
            return 'host TCP (MTA sockets)'
        if f in ('__schedule','schedule','try_to_wake_up','finish_task_switch.isra.0'):
            return 'scheduler, wake-ups'
        if f in ('do_sys_poll','__x64_sys_ppoll','do_epoll_wait','__x64_sys_poll','do_select'):
            return 'poll/epoll/select'
    if comm=='cbacd':
        if s and (s[0].startswith('cbac/') or s[0].startswith('runtime') or s[0].startswith('internal')  or s[0]=='[unknown]'):
            return 'cbacd user (Go)'
        return 'cbacd kernel other'
    if comm in ('smtp-source','smtp-sink'):
        return 'MTA tools other (user + kernel)'
    if comm.startswith('ksoftirqd') or comm=='swapper':
        return 'softirq other'
    return comm+' other'
comm=pid=None; frames=[]
def flush():
    global total
    if comm is None: return
    cats[classify(comm,pid,frames)]+=1; total+=1
for line in out.splitlines():
    if not line.strip():
        flush(); comm=None; frames=[]; continue
    if not line.startswith('\t') and not line.startswith(' '*8):
        parts=line.split()
        comm=parts[0]; pid=parts[1].split('/')[0]
        continue
    p=line.split()
    if len(p)>=2: frames.append(p[1].split('+')[0])
flush()
for k,v in cats.most_common():
    print(f"{v/total*100:6.1f}%  {v/total*2*5:5.2f} CPU-s of 10  {k}")
print('samples',total)
