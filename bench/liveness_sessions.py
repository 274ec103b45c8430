#!/usr/bin/env python3
"""Liveness sessions over HTTP on every Yale subject: a blink (normal -> sleepy -> eyes open) and a smile
(normal -> happy) must succeed; the same with the challenge frame taken from the next subject must fail with
`identity_changed`. Prints pass/fail counts and the time per frame.

Usage: bench/liveness_sessions.py [path/to/facegate] (default target/release/facegate); ../shared beside the repo.
"""
import base64, hashlib, json, subprocess, sys, tempfile, time, urllib.request, os
HERE=os.path.dirname(os.path.abspath(__file__))
BIN=sys.argv[1] if len(sys.argv)>1 else os.path.join(HERE,'..','target','release','facegate')
Y=os.path.join(HERE,'..','..','shared','data','yale','images','subject%02d','subject%02d_%s.png')
work=tempfile.mkdtemp(prefix='facegate-liveness-')
p=subprocess.Popen([BIN,'serve','--listen','127.0.0.1:0','--data-dir',work,'--exit-on-stdin-close'],stdin=subprocess.PIPE,stdout=subprocess.PIPE,stderr=open(os.path.join(work,'log'),'w'),cwd=work)
base=p.stdout.readline().decode().strip().split()[-1]
def post(path, body):
    req=urllib.request.Request(base+path, data=json.dumps(body).encode(), headers={'content-type':'application/json'})
    try:
        with urllib.request.urlopen(req) as r: return json.load(r)
    except urllib.error.HTTPError as e: return json.load(e)
def img(s,c): return open(Y%(s,s,c),'rb').read()
def run(kinds, frames):
    s=post('/v1/liveness/sessions',{'challenges':kinds})
    last=None; t=[]
    for i,f in enumerate(frames):
        t0=time.time()
        last=post('/v1/liveness/sessions/%s/frames'%s['sessionId'],{'image':base64.b64encode(f).decode(),'sequence':i,'timestamp':100*(i+1)})
        t.append(time.time()-t0)
        if 'result' in last or 'error' in last: break
    return last, t
res={'blink':[0,0],'smile':[0,0],'splice_blink':[0,0],'splice_smile':[0,0]}; times=[]; reasons={}
for s in range(1,16):
    n=img(s,'normal')
    open2=[c for c in ('noglasses','glasses','surprised') if hashlib.sha256(img(s,c)).digest()!=hashlib.sha256(n).digest()][0]
    for kind,frames in (('blink',[n,img(s,'sleepy'),img(s,open2)]),('smile',[n,img(s,'happy')])):
        last,t=run([kind],frames); times+=t
        ok=last.get('status')=='SUCCEEDED'; res[kind][0 if ok else 1]+=1
        if not ok: reasons.setdefault(kind,[]).append((s,last.get('status'),(last.get('result') or {}).get('reasons'),[f.get('verdict') for f in last.get('feedback',[])], last.get('error')))
    o=s%15+1
    for kind,frames in (('splice_blink',[n,img(o,'sleepy'),img(s,open2)]),('splice_smile',[n,img(o,'happy')])):
        last,t=run([kind.split('_')[1]],frames)
        failed_identity=(last.get('result') or {}).get('reasons')==['identity_changed']
        res[kind][0 if failed_identity else 1]+=1
        if not failed_identity: reasons.setdefault(kind,[]).append((s,o,last.get('status'),(last.get('result') or {}).get('reasons')))
print(json.dumps(res)); print(json.dumps(reasons)[:3000])
times.sort(); print('frame ms p50 %.0f p90 %.0f n %d'%(1000*times[len(times)//2],1000*times[int(len(times)*.9)],len(times)))
p.stdin.close(); p.wait()
